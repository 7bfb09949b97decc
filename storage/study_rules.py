"""A study's rule definitions and wear minimums, kept in ``studies.settings`` (where the
stream worker reads them, ``stream/flags/rulebook.py``), each rule change also kept as a
numbered version in ``study_rule_versions``. Validating a definition is the caller's
(``stream/flags/config.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
from psycopg import AsyncConnection

from storage import audit
from storage.queries._rows import fetch_all

WEAR_KEYS = ("min_daily_wear_minutes", "min_daily_completeness")


async def settings(conn: AsyncConnection[Any], *, study: str,
                   lock: bool = False) -> dict[str, Any] | None:
    """The study's settings (locked until the transaction ends), or None if no study."""
    cur = await conn.execute("SELECT settings FROM studies WHERE code = %s"
                             + (" FOR UPDATE" if lock else ""), (study,))
    row = await cur.fetchone()
    return None if row is None else dict(row[0] or {})


async def set_rule(conn: AsyncConnection[Any], *, study: str, rule_id: str,
                   definition: dict[str, Any], actor: str, reason: str) -> None:
    """Put ``definition`` (with its ``version``) in force for ``rule_id`` and keep it as
    that version (in the caller's transaction, after :func:`settings` with ``lock``)."""
    encoded = msgspec.json.encode(definition).decode()
    await conn.execute(
        "UPDATE studies SET settings = jsonb_set(coalesce(settings, '{}'), '{rules}',"
        " coalesce(settings -> 'rules', '{}') || jsonb_build_object(%s::text, %s::jsonb))"
        " WHERE code = %s", (rule_id, encoded, study))
    await conn.execute(
        "INSERT INTO study_rule_versions (study_code, rule_id, version, definition, actor,"
        " reason) VALUES (%s, %s, %s, %s::jsonb, %s, %s)",
        (study, rule_id, definition["version"], encoded, actor, reason))


@dataclass(frozen=True, slots=True)
class RuleVersion:
    version: int
    definition: dict[str, Any]
    actor: str
    reason: str
    created_at: datetime


async def rule_versions(conn: AsyncConnection[Any], *, study: str,
                        rule_id: str) -> list[RuleVersion]:
    """The study's versions of a rule, newest first."""
    return await fetch_all(conn, RuleVersion,
                           "SELECT version, definition, actor, reason, created_at"
                           " FROM study_rule_versions WHERE study_code = %s AND rule_id = %s"
                           " ORDER BY version DESC", (study, rule_id))


async def set_wear_minimums(conn: AsyncConnection[Any], *, study: str,
                            minimums: dict[str, float | None]) -> None:
    """Set (or, with None, remove) ``min_daily_wear_minutes`` / ``min_daily_completeness``."""
    for key, value in minimums.items():
        if value is None:
            await conn.execute("UPDATE studies SET settings = settings - %s WHERE code = %s",
                               (key, study))
        else:
            await conn.execute(
                "UPDATE studies SET settings = jsonb_set(coalesce(settings, '{}'),"
                " ARRAY[%s::text], to_jsonb(%s::float8)) WHERE code = %s", (key, value, study))


async def change_wear_minimums(conn: AsyncConnection[Any], *, study: str,
                               minimums: dict[str, float | None], actor: str, role: str,
                               reason: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Set the study's daily minimums (both keys of ``WEAR_KEYS``; None removes one) with
    an audit entry of old and new, in the caller's transaction; (old, new), or None if
    there is no such study."""
    current = await settings(conn, study=study, lock=True)
    if current is None:
        return None
    old = {k: current.get(k) for k in WEAR_KEYS}
    new = {k: minimums.get(k) for k in WEAR_KEYS}
    await set_wear_minimums(conn, study=study, minimums=new)
    await audit.append(conn, actor=actor, role=role, action="wear_minimums",
                       entity_type="study", entity_id=study, reason=reason,
                       details={"study": study, "old": old, "new": new})
    return old, new
