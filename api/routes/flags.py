"""The flag queue: list and filter, and the review lifecycle with an audit trail.

open → acknowledged → resolved (with a reason code), or escalated on the way; every
transition is one audit entry in the same transaction as the status change.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from pydantic import BaseModel, Field, model_validator

from api.auth.roles import Principal, Role
from api.deps import Conn, requires
from storage import alerts, audit
from storage.queries import flags as flag_queries
from storage.queries.flags import FlagFilter, FlagRow

router = APIRouter(prefix="/v1/studies/{study}/flags", tags=["flags"])

Viewer = Annotated[Principal, Depends(requires(Role.ADMIN, Role.MONITOR, Role.EDC))]
Reviewer = Annotated[Principal, Depends(requires(Role.ADMIN, Role.MONITOR))]


class Action(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    ESCALATE = "escalate"
    RESOLVE = "resolve"


class ReasonCode(StrEnum):
    CLINICALLY_REVIEWED = "clinically_reviewed"
    DEVICE_ARTIFACT = "device_artifact"
    DATA_ERROR = "data_error"
    KNOWN_CONDITION = "known_condition"
    OTHER = "other"


# action -> (statuses it applies to, resulting status)
TRANSITIONS: dict[Action, tuple[frozenset[str], str]] = {
    Action.ACKNOWLEDGE: (frozenset({"open", "escalated"}), "acknowledged"),
    Action.ESCALATE: (frozenset({"open", "acknowledged"}), "escalated"),
    Action.RESOLVE: (frozenset({"acknowledged", "escalated"}), "resolved"),
}


class FlagOut(BaseModel):
    id: int
    subject: str
    site: str
    device_id: str | None
    rule_id: str
    rule_version: int
    severity: str
    status: str
    window_start: datetime
    window_end: datetime
    raised_on: str
    trigger_values: list[Any]
    details: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class Transition(BaseModel):
    action: Action
    reason_code: ReasonCode | None = None
    note: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _reasons(self) -> Transition:
        if self.action is Action.RESOLVE and self.reason_code is None:
            raise ValueError("resolving a flag needs a reason_code")
        if self.reason_code is ReasonCode.OTHER and not (self.note or "").strip():
            raise ValueError("reason_code 'other' needs a note")
        return self


def _flag(row: FlagRow) -> FlagOut:
    return FlagOut.model_validate(row, from_attributes=True)


@router.get("")
async def list_flags(
    study: str, conn: Conn, _: Viewer,
    site: str | None = None, subject: str | None = None, rule: str | None = None,
    severity: str | None = None,
    status_: Annotated[str | None, Query(alias="status")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[int | None, Query(description="id of the last flag of the previous page")] = None,
) -> list[FlagOut]:
    """Newest first; filters combine with AND; page with ``before``."""
    if status_ is not None and status_ not in ("open", "acknowledged", "escalated", "resolved"):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"unknown status {status_!r}")
    where = FlagFilter(site=site, subject=subject, rule=rule, severity=severity, status=status_)
    rows = await flag_queries.flags(conn, study=study, where=where, before=before, limit=limit)
    return [_flag(row) for row in rows]


@router.get("/{flag_id}")
async def get_flag(study: str, flag_id: Annotated[int, Path(ge=1, le=2**63 - 1)], conn: Conn,
                   _: Viewer) -> FlagOut:
    """One flag of the study (the page's flag view)."""
    row = await flag_queries.get_flag(conn, study=study, flag_id=flag_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"flag {flag_id} not in study {study}")
    return _flag(row)


@router.post("/{flag_id}/transitions")
async def transition(study: str, flag_id: int, change: Transition, conn: Conn,
                     who: Reviewer) -> FlagOut:
    """Move a flag through its review; the change and its reason go to the audit trail."""
    allowed_from, to = TRANSITIONS[change.action]
    async with conn.transaction():
        current = await flag_queries.lock_status(conn, study=study, flag_id=flag_id)
        if current is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"flag {flag_id} not in study {study}")
        if current not in allowed_from:
            raise HTTPException(status.HTTP_409_CONFLICT,
                                f"cannot {change.action} a flag that is {current}")
        await flag_queries.set_status(conn, flag_id=flag_id, status=to)
        if change.action is Action.ESCALATE:  # the next on-call level now, not later
            await alerts.escalate_now(conn, flag_id=flag_id)
        await audit.append(conn, actor=who.token_id, role=who.role, action=str(change.action),
                           entity_type="flag", entity_id=str(flag_id),
                           reason=str(change.reason_code) if change.reason_code else None,
                           details={"study": study, "from": current, "to": to,
                                    "note": change.note or ""})
    row = await flag_queries.get_flag(conn, study=study, flag_id=flag_id)
    assert row is not None  # changed above, in this study; flags are never deleted
    return _flag(row)


@router.get("/{flag_id}/history")
async def history(study: str, flag_id: int, conn: Conn, _: Viewer) -> list[dict[str, Any]]:
    """The flag's audit entries, newest first."""
    if not await flag_queries.flag_in_study(conn, study=study, flag_id=flag_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"flag {flag_id} not in study {study}")
    rows = await audit.entries(conn, entity_type="flag", entity_id=str(flag_id))
    return [msgspec.to_builtins(r) for r in rows]


class DeliveryOut(BaseModel):
    """One channel's delivery of a flag: its status, and every try (time, duration,
    outcome, HTTP status or SMTP reply, error)."""

    id: int
    channel: str
    kind: str
    status: str  # pending | delivered | dead | cancelled (acknowledged before escalation)
    escalation: bool  # to a later on-call level
    attempts: int
    next_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    delivered_at: datetime | None
    latency_ms: float | None  # from the flag's storing to the receiver's acceptance
    tries: list[dict[str, Any]]


@router.get("/{flag_id}/deliveries")
async def deliveries(study: str, flag_id: int, conn: Conn, _: Viewer) -> list[DeliveryOut]:
    """Where the flag's alert went (webhooks, e-mail) and how each try fared."""
    if not await flag_queries.flag_in_study(conn, study=study, flag_id=flag_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"flag {flag_id} not in study {study}")
    rows = await alerts.deliveries_of_flag(conn, study=study, flag_id=flag_id)
    return [DeliveryOut.model_validate(row, from_attributes=True) for row in rows]
