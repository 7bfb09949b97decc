"""The flag queue: flags of a study with their subject's site, filtered and paged newest
first, and the status changes of their review. (Raising flags: ``storage/flags.py``.)"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from storage.queries._rows import exists, fetch_all, fetch_one


@dataclass(frozen=True, slots=True)
class FlagRow:
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


@dataclass(frozen=True, slots=True)
class FlagFilter:
    """What ``flags`` keeps: each field that is not None must match (AND)."""

    site: str | None = None
    subject: str | None = None
    rule: str | None = None
    severity: str | None = None
    status: str | None = None


_SELECT = """
SELECT f.id, f.subject_code AS subject, s.site_code AS site, f.device_id, f.rule_id,
       f.rule_version, f.severity, f.status, f.window_start, f.window_end, f.raised_on,
       f.trigger_values, f.details, f.created_at, f.updated_at
  FROM flags f JOIN subjects s ON s.code = f.subject_code
 WHERE f.study_code = %(study)s
"""

_FILTERED = (
    _SELECT + " AND (%(site)s::text IS NULL OR s.site_code = %(site)s)"
    " AND (%(subject)s::text IS NULL OR f.subject_code = %(subject)s)"
    " AND (%(rule)s::text IS NULL OR f.rule_id = %(rule)s)"
    " AND (%(severity)s::text IS NULL OR f.severity = %(severity)s)"
    " AND (%(status)s::text IS NULL OR f.status = %(status)s)"
    " AND (%(before)s::bigint IS NULL OR f.id < %(before)s)"
    " ORDER BY f.id DESC LIMIT %(limit)s"
)


async def flags(conn: AsyncConnection[Any], *, study: str, where: FlagFilter,
                before: int | None, limit: int) -> list[FlagRow]:
    """Newest first, at most ``limit``, only ids below ``before`` when given."""
    return await fetch_all(conn, FlagRow, _FILTERED, {
        "study": study, "site": where.site, "subject": where.subject, "rule": where.rule,
        "severity": where.severity, "status": where.status, "before": before, "limit": limit})


async def get_flag(conn: AsyncConnection[Any], *, study: str, flag_id: int) -> FlagRow | None:
    return await fetch_one(conn, FlagRow, _SELECT + " AND f.id = %(id)s",
                           {"study": study, "id": flag_id})


async def flag_in_study(conn: AsyncConnection[Any], *, study: str, flag_id: int) -> bool:
    return await exists(conn, "SELECT 1 FROM flags WHERE id = %s AND study_code = %s",
                        (flag_id, study))


async def lock_status(conn: AsyncConnection[Any], *, study: str, flag_id: int) -> str | None:
    """The flag's status, its row locked until the caller's transaction ends (so concurrent
    reviews of one flag take turns); None if the flag is not in ``study``."""
    cur = await conn.execute(
        "SELECT status FROM flags WHERE id = %s AND study_code = %s FOR UPDATE",
        (flag_id, study))
    row = await cur.fetchone()
    return None if row is None else row[0]


async def set_status(conn: AsyncConnection[Any], *, flag_id: int, status: str) -> None:
    await conn.execute("UPDATE flags SET status = %s, updated_at = now() WHERE id = %s",
                       (status, flag_id))
