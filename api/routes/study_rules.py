"""A study's flag rules and wear minimums over the API. Changing a rule writes its next
version (``stream/flags/rule_changes.py``); the stream worker picks it up within a minute
and stamps new flags with that version, while old flags keep theirs. Every change is
audited with old and new."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field

from api.auth.roles import Principal, Role
from api.deps import Conn, requires
from storage import study_rules
from stream.flags import rule_changes
from stream.flags.config import default_definitions, merged_definitions, study_overrides

router = APIRouter(prefix="/v1/studies/{study}", tags=["rules"])

Reader = Annotated[Principal, Depends(requires(Role.ADMIN, Role.MONITOR, Role.EDC))]
Admin = Annotated[Principal, Depends(requires(Role.ADMIN))]
Reason = Annotated[str, Field(min_length=1, max_length=500, pattern=r"^[^\x00]*$")]
RuleId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


class RuleOut(BaseModel):
    rule_id: str
    kind: str
    version: int
    severity: str
    metrics: list[str]
    enabled: bool
    params: dict[str, Any]
    changed_for_study: bool


class RuleChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    set: Annotated[dict[str, Any], Field(min_length=1, max_length=20)]
    reason: Reason


class WearMinimums(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_daily_wear_minutes: Annotated[int, Field(ge=0, le=1440)] | None = None
    min_daily_completeness: Annotated[float, Field(ge=0, le=1)] | None = None
    reason: Reason


def _out(rule_id: str, raw: dict[str, Any], overrides: dict[str, Any]) -> RuleOut:
    params = {k: v for k, v in raw.items()
              if k not in ("kind", "version", "severity", "metrics", "enabled")}
    return RuleOut(rule_id=rule_id, kind=raw.get("kind", ""), version=raw.get("version", 1),
                   severity=raw.get("severity", "medium"), metrics=list(raw.get("metrics", [])),
                   enabled=raw.get("enabled", True), params=params,
                   changed_for_study=rule_id in overrides)


async def _settings(conn: Conn, study: str, *, lock: bool = False) -> dict[str, Any]:
    found = await study_rules.settings(conn, study=study, lock=lock)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"study {study} not found")
    return found


@router.get("/rules")
async def list_rules(study: str, conn: Conn, _: Reader) -> list[RuleOut]:
    """Every rule as it applies to the study now (packaged defaults, study overrides)."""
    overrides = study_overrides(await _settings(conn, study))
    merged = merged_definitions(overrides, default_definitions())
    return [_out(rule_id, raw, overrides) for rule_id, raw in sorted(merged.items())]


@router.put("/rules/{rule_id}")
async def change_rule(study: str, rule_id: RuleId, change: RuleChange, conn: Conn,
                      who: Admin) -> RuleOut:
    """Set some of a rule's fields for the study (``threshold``, ``min_duration_s``,
    ``severity``, ``enabled``, ...); the rule's version goes up by one."""
    try:
        async with conn.transaction():
            done = await rule_changes.change_rule(conn, study=study, rule_id=rule_id,
                                                  fields=change.set, actor=who.token_id,
                                                  role=who.role, reason=change.reason)
    except rule_changes.RuleChangeError as exc:
        code = (status.HTTP_404_NOT_FOUND if exc.reason in ("no_study", "no_rule")
                else status.HTTP_422_UNPROCESSABLE_CONTENT)
        raise HTTPException(code, str(exc)) from None
    return _out(rule_id, done.after, done.overrides)


@router.get("/rules/{rule_id}/versions")
async def rule_versions(study: str, rule_id: RuleId, conn: Conn,
                        _: Reader) -> list[dict[str, Any]]:
    """The study's versions of the rule, newest first, with who changed it and why."""
    rows = await study_rules.rule_versions(conn, study=study, rule_id=rule_id)
    return [{"version": r.version, "definition": r.definition, "actor": r.actor,
             "reason": r.reason, "created_at": r.created_at} for r in rows]


@router.put("/wear-minimums")
async def set_wear_minimums(study: str, minimums: WearMinimums, conn: Conn,
                            who: Admin) -> dict[str, Any]:
    """The daily minimums under which a subject's day becomes a protocol deviation (null:
    none)."""
    async with conn.transaction():
        done = await study_rules.change_wear_minimums(
            conn, study=study, minimums={k: getattr(minimums, k) for k in study_rules.WEAR_KEYS},
            actor=who.token_id, role=who.role, reason=minimums.reason)
    if done is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"study {study} not found")
    return done[1]
