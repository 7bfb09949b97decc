"""A subject's participation: screening → active ⇄ paused → withdrawn or completed (the
last two are final). Collection runs while screening or active; a paused, withdrawn or
completed subject's data measured from the change on is refused (ingest answers 410 and
the gateway stops collecting; a final status also ends the subject's open enrollments, so
the stream worker dead-letters what a site hub sends straight to Kafka). Changing the
status tells the ingest service at once (credential change notices of the subject's
gateways)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from storage import audit, credential_events

STATUSES = ("screening", "active", "paused", "withdrawn", "completed")
NEXT: dict[str, frozenset[str]] = {
    "screening": frozenset({"active", "withdrawn"}),
    "active": frozenset({"paused", "withdrawn", "completed"}),
    "paused": frozenset({"active", "withdrawn", "completed"}),
    "withdrawn": frozenset(),
    "completed": frozenset(),
}
COLLECTING = frozenset({"screening", "active"})


class LifecycleError(Exception):
    """A status change that cannot be made; ``reason`` is machine-readable."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def check_transition(current: str, to: str) -> None:
    """Pure: raise LifecycleError unless a subject may go from ``current`` to ``to``."""
    if to not in NEXT:
        raise LifecycleError("unknown_status", f"unknown status {to!r} "
                                               f"(one of {', '.join(STATUSES)})")
    if to == current:
        raise LifecycleError("unchanged", f"the subject is already {current}")
    if to not in NEXT[current]:
        allowed = ", ".join(sorted(NEXT[current])) or "none: it is final"
        raise LifecycleError("not_allowed", f"a subject who is {current} cannot become {to} "
                                            f"(allowed: {allowed})")


@dataclass(frozen=True, slots=True)
class StatusChange:
    subject: str
    previous: str
    status: str
    since: datetime
    gateways: list[str]  # told at once
    policy: str  # the study's withdrawal policy: retain | delete
    deleted: dict[str, int] | None = None  # rows deleted under the 'delete' policy


async def change_status(conn: AsyncConnection[Any], *, study: str, subject: str, to: str,
                        at: datetime) -> StatusChange | None:
    """Move ``subject`` of ``study`` to ``to`` from ``at`` (in the caller's transaction);
    None if the study has no such subject. Raises LifecycleError for a forbidden change."""
    cur = await conn.execute(
        "SELECT s.status, st.withdrawal_policy FROM subjects s"
        " JOIN studies st ON st.code = s.study_code"
        " WHERE s.code = %s AND s.study_code = %s FOR UPDATE OF s", (subject, study))
    row = await cur.fetchone()
    if row is None:
        return None
    previous, policy = str(row[0]), str(row[1])
    check_transition(previous, to)
    await conn.execute("UPDATE subjects SET status = %s, status_since = %s WHERE code = %s",
                       (to, at, subject))
    if not NEXT[to]:  # final: the open enrollments end, so a site hub's data is refused too
        await conn.execute("UPDATE enrollments SET valid = tstzrange(lower(valid), %s, '[)')"
                           " WHERE subject_code = %s AND valid @> %s::timestamptz",
                           (at, subject, at))
    cur = await conn.execute("SELECT DISTINCT gateway_id FROM enrollments"
                             " WHERE subject_code = %s ORDER BY 1", (subject,))
    gateways = [str(g) for (g,) in await cur.fetchall()]
    for gateway in gateways:
        await credential_events.announce(conn, credential_events.gateway_changed(gateway))
    return StatusChange(subject, previous, to, at, gateways, policy)


async def delete_collected_data(conn: AsyncConnection[Any], *, subject: str) -> dict[str, int]:
    """Delete everything measured for ``subject`` (the 'delete' withdrawal policy); returns
    the rows deleted per table, for the audit record. Flags and the audit trail stay."""
    deleted = {}
    for table in ("readings", "waveform_segments", "completeness_hourly"):
        cur = await conn.execute(f"DELETE FROM {table} WHERE subject_code = %s", (subject,))
        deleted[table] = cur.rowcount
    return deleted


async def change_status_audited(conn: AsyncConnection[Any], *, study: str, subject: str,
                                to: str, at: datetime, actor: str, role: str,
                                reason: str) -> StatusChange | None:
    """:func:`change_status`, then, for a withdrawal under the 'delete' policy, the
    subject's collected data deleted; one audit entry with both (in the caller's
    transaction). None if the study has no such subject."""
    change = await change_status(conn, study=study, subject=subject, to=to, at=at)
    if change is None:
        return None
    if to == "withdrawn" and change.policy == "delete":
        change = dataclasses.replace(
            change, deleted=await delete_collected_data(conn, subject=subject))
    await audit.append(conn, actor=actor, role=role, action="status", entity_type="subject",
                       entity_id=subject, reason=reason,
                       details={"study": study, "from": change.previous, "to": to,
                                "since": at.isoformat(), "withdrawal_policy": change.policy,
                                "deleted": change.deleted, "gateways_told": change.gateways})
    return change
