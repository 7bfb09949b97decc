"""Alert channels, the deliveries planned for each stored flag, and every try's outcome.

Delivery is at least once: a try is leased (``next_attempt_at`` moves past it) before it
starts, so a dispatcher that dies mid-try leaves it to be tried again after the lease,
under the same idempotency key. Planning marks each flag once (``flags.alerts_planned_at``)
in the transaction that inserts its deliveries, so no flag is planned twice or skipped.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from psycopg import AsyncConnection

from storage import audit
from storage.queries._rows import fetch_all


@dataclass(frozen=True, slots=True)
class Channel:
    id: int
    study: str
    name: str
    kind: str  # webhook | email
    target: str  # URL, or e-mail address
    secret: str | None
    min_severity: str
    rules: list[str]
    sites: list[str]
    quiet: tuple[time, time, str] | None  # start, end, IANA zone
    enabled: bool = True
    # > 0: a later on-call level, sent a flag only if it is still unacknowledged this long
    # after it was stored
    escalate_after_s: int = 0
    on_call: tuple[time, time, str] | None = None  # start, end, IANA zone; None: always


@dataclass(frozen=True, slots=True)
class NewFlag:
    """A stored flag not yet planned for delivery."""

    id: int
    study: str
    site: str | None
    subject: str
    device_id: str | None
    rule_id: str
    rule_version: int
    severity: str
    raised_on: str
    window_start: datetime
    window_end: datetime
    trigger_values: Any
    details: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class DueDelivery:
    """A try to make now: the delivery, its channel and the flag it carries."""

    id: int
    idempotency_key: str
    attempt: int  # this try's number (1 = first)
    channel: Channel
    flag: NewFlag


@dataclass(frozen=True, slots=True)
class DeliveryLog:
    """One delivery of a flag, as the API and the page show it."""

    id: int
    flag_id: int
    channel: str
    kind: str
    status: str
    escalation: bool
    attempts: int
    next_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    delivered_at: datetime | None
    latency_ms: float | None
    tries: list[dict[str, Any]]


_CHANNEL_COLUMNS = ("c.id, c.study_code, c.name, c.kind, c.target, c.secret, c.min_severity,"
                    " c.rules, c.sites, c.quiet_start, c.quiet_end, c.quiet_zone, c.enabled,"
                    " c.escalate_after_s, c.on_call_start, c.on_call_end, c.on_call_zone")
_FLAG_COLUMNS = ("f.id, f.study_code, s.site_code, f.subject_code, f.device_id, f.rule_id,"
                 " f.rule_version, f.severity, f.raised_on, f.window_start, f.window_end,"
                 " f.trigger_values, f.details, f.created_at")


def _channel(row: tuple[Any, ...]) -> Channel:
    (id_, study, name, kind, target, secret, min_severity, rules, sites,
     quiet_start, quiet_end, quiet_zone, enabled, escalate_after_s, on_call_start,
     on_call_end, on_call_zone) = row
    quiet = (quiet_start, quiet_end, quiet_zone) if quiet_start is not None else None
    on_call = (on_call_start, on_call_end, on_call_zone) if on_call_start is not None else None
    return Channel(id_, study, name, kind, target, secret, min_severity, list(rules),
                   list(sites), quiet, enabled, escalate_after_s, on_call)


def _flag(row: tuple[Any, ...]) -> NewFlag:
    return NewFlag(*row)


async def create_channel(conn: AsyncConnection[Any], *, study: str, name: str, kind: str,
                         target: str, min_severity: str = "medium",
                         rules: list[str] | None = None, sites: list[str] | None = None,
                         quiet: tuple[time, time, str] | None = None,
                         escalate_after_s: int = 0,
                         on_call: tuple[time, time, str] | None = None) -> Channel:
    """A new channel; a webhook gets a fresh signing secret (returned once, here)."""
    secret = secrets.token_urlsafe(32) if kind == "webhook" else None
    start, end, zone = quiet if quiet is not None else (None, None, None)
    cur = await conn.execute(
        "INSERT INTO alert_channels (study_code, name, kind, target, secret, min_severity,"
        " rules, sites, quiet_start, quiet_end, quiet_zone, escalate_after_s, on_call_start,"
        " on_call_end, on_call_zone) VALUES"
        " (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
        (study, name, kind, target, secret, min_severity, rules or [], sites or [],
         start, end, zone, escalate_after_s, *(on_call or (None, None, None))))
    row = await cur.fetchone()
    assert row is not None
    return Channel(int(row[0]), study, name, kind, target, secret, min_severity,
                   rules or [], sites or [], quiet, True, escalate_after_s, on_call)


async def ensure_channel(conn: AsyncConnection[Any], *, study: str, name: str, kind: str,
                         target: str, min_severity: str = "medium") -> Channel:
    """The channel named ``name``, created, or pointed at ``target`` and enabled (its
    secret kept) if it exists."""
    existing = await channel_by_name(conn, study=study, name=name)
    if existing is None:
        return await create_channel(conn, study=study, name=name, kind=kind, target=target,
                                    min_severity=min_severity)
    cur = await conn.execute(f"UPDATE alert_channels c SET target = %s, min_severity = %s,"
                             f" enabled = true WHERE c.id = %s RETURNING {_CHANNEL_COLUMNS}",
                             (target, min_severity, existing.id))
    row = await cur.fetchone()
    assert row is not None
    return _channel(row)


async def channels(conn: AsyncConnection[Any], *, study: str | None = None) -> list[Channel]:
    """Every channel (of one study), oldest first."""
    cur = await conn.execute(
        f"SELECT {_CHANNEL_COLUMNS} FROM alert_channels c"
        " WHERE %(study)s::text IS NULL OR c.study_code = %(study)s ORDER BY c.id",
        {"study": study})
    return [_channel(row) for row in await cur.fetchall()]


async def set_channel_enabled(conn: AsyncConnection[Any], *, study: str, channel_id: int,
                              enabled: bool) -> Channel | None:
    """The channel switched on or off, or None when ``study`` has no such channel."""
    cur = await conn.execute(f"UPDATE alert_channels c SET enabled = %s WHERE c.id = %s"
                             f" AND c.study_code = %s RETURNING {_CHANNEL_COLUMNS}",
                             (enabled, channel_id, study))
    row = await cur.fetchone()
    return _channel(row) if row is not None else None


def idempotency_key(flag_id: int, channel_id: int) -> str:
    """The key every try of one flag's delivery over one channel carries."""
    return f"trialwire-flag-{flag_id}-channel-{channel_id}"


async def unplanned_flags(conn: AsyncConnection[Any], *, limit: int) -> list[NewFlag]:
    """Stored flags not yet planned, oldest first, locked until the transaction ends (a
    second dispatcher skips them)."""
    cur = await conn.execute(
        f"SELECT {_FLAG_COLUMNS} FROM flags f LEFT JOIN subjects s ON s.code = f.subject_code"
        " WHERE f.alerts_planned_at IS NULL ORDER BY f.id LIMIT %s FOR UPDATE OF f SKIP LOCKED",
        (limit,))
    return [_flag(row) for row in await cur.fetchall()]


async def plan_deliveries(conn: AsyncConnection[Any], *, flag_ids: list[int],
                          deliveries: list[tuple[NewFlag, Channel, datetime]]) -> int:
    """Insert the deliveries of these flags (none twice) and mark the flags planned;
    returns how many deliveries are new. Call inside the transaction of
    :func:`unplanned_flags`."""
    new = 0
    for flag, channel, first_at in deliveries:
        cur = await conn.execute(
            "INSERT INTO alert_deliveries (flag_id, channel_id, idempotency_key,"
            " next_attempt_at, flag_created_at, escalation) VALUES (%s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (flag_id, channel_id) DO NOTHING",
            (flag.id, channel.id, idempotency_key(flag.id, channel.id), first_at,
             flag.created_at, channel.escalate_after_s > 0))
        new += cur.rowcount
    if flag_ids:
        await conn.execute("UPDATE flags SET alerts_planned_at = now() WHERE id = ANY(%s)",
                           (flag_ids,))
    return new


async def claim_due(conn: AsyncConnection[Any], *, lease_s: float, limit: int,
                    ) -> list[DueDelivery]:
    """Pending deliveries due now, leased for ``lease_s`` (no other dispatcher takes them
    meanwhile; if this one dies, they are due again when the lease ends). Escalations due
    whose flag was acknowledged or resolved meanwhile are cancelled first, not claimed."""
    await conn.execute(
        "UPDATE alert_deliveries d SET status = 'cancelled',"
        " last_error = 'flag ' || f.status || ' before the escalation was due'"
        " FROM flags f WHERE f.id = d.flag_id AND d.escalation AND d.status = 'pending'"
        " AND d.next_attempt_at <= now() AND f.status IN ('acknowledged', 'resolved')")
    cur = await conn.execute(
        "WITH claimed AS ("
        " UPDATE alert_deliveries d SET next_attempt_at = now() + make_interval(secs => %s)"
        "  WHERE d.id IN (SELECT id FROM alert_deliveries WHERE status = 'pending'"
        "                  AND next_attempt_at <= now() ORDER BY next_attempt_at LIMIT %s"
        "                  FOR UPDATE SKIP LOCKED)"
        "  RETURNING d.id, d.idempotency_key, d.attempts, d.flag_id, d.channel_id)"
        f" SELECT k.id, k.idempotency_key, k.attempts + 1, {_CHANNEL_COLUMNS}, {_FLAG_COLUMNS}"
        " FROM claimed k JOIN alert_channels c ON c.id = k.channel_id"
        " JOIN flags f ON f.id = k.flag_id LEFT JOIN subjects s ON s.code = f.subject_code"
        " ORDER BY k.id",
        (lease_s, limit))
    out = []
    for row in await cur.fetchall():
        out.append(DueDelivery(row[0], row[1], row[2], _channel(row[3:20]), _flag(row[20:])))
    return out


async def mark_escalated(conn: AsyncConnection[Any], due: DueDelivery) -> bool:
    """An escalation was delivered: its flag, if still open, becomes ``escalated``, with an
    audit entry by the dispatcher; True if it changed. Call in the try's transaction."""
    cur = await conn.execute("UPDATE flags SET status = 'escalated', updated_at = now()"
                             " WHERE id = %s AND status = 'open' RETURNING id",
                             (due.flag.id,))
    if await cur.fetchone() is None:
        return False
    await audit.append(conn, actor="alert-dispatcher", role="system", action="escalate",
                       entity_type="flag", entity_id=str(due.flag.id), reason="unacknowledged",
                       details={"study": due.flag.study, "from": "open", "to": "escalated",
                                "channel": due.channel.name,
                                "after_s": due.channel.escalate_after_s})
    return True


async def escalate_now(conn: AsyncConnection[Any], *, flag_id: int) -> int:
    """A flag escalated by hand: its escalations not yet tried are due now (quiet hours
    or not); returns how many."""
    cur = await conn.execute(
        "UPDATE alert_deliveries SET next_attempt_at = now() WHERE flag_id = %s"
        " AND escalation AND status = 'pending' AND attempts = 0 AND next_attempt_at > now()",
        (flag_id,))
    return cur.rowcount


async def record_try(conn: AsyncConnection[Any], *, delivery_id: int, attempt: int,
                     started_at: datetime, duration_ms: float, outcome: str,
                     status: int | None, error: str | None,
                     retry_at: datetime | None = None) -> None:
    """The outcome of one try: ``delivered``; ``failed`` (tried again at ``retry_at``);
    or ``dead`` (given up)."""
    await conn.execute(
        "INSERT INTO alert_attempts (delivery_id, attempt, started_at, duration_ms, outcome,"
        " status, error) VALUES (%s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (delivery_id, attempt) DO NOTHING",
        (delivery_id, attempt, started_at, duration_ms, outcome, status, error))
    if outcome == "delivered":
        await conn.execute(
            "UPDATE alert_deliveries SET status = 'delivered', attempts = %s,"
            " delivered_at = now(), last_status = %s, last_error = NULL"
            " WHERE id = %s AND status = 'pending'", (attempt, status, delivery_id))
    elif outcome == "dead":
        await conn.execute(
            "UPDATE alert_deliveries SET status = 'dead', attempts = %s, last_status = %s,"
            " last_error = %s WHERE id = %s AND status = 'pending'",
            (attempt, status, error, delivery_id))
    else:
        await conn.execute(
            "UPDATE alert_deliveries SET attempts = %s, next_attempt_at = %s,"
            " last_status = %s, last_error = %s WHERE id = %s AND status = 'pending'",
            (attempt, retry_at, status, error, delivery_id))


async def deliveries_of_flag(conn: AsyncConnection[Any], *, study: str,
                             flag_id: int) -> list[DeliveryLog]:
    """The delivery log of one flag of ``study``: per channel, status and every try."""
    return await fetch_all(
        conn, DeliveryLog,
        "SELECT d.id, d.flag_id, c.name AS channel, c.kind, d.status, d.escalation,"
        " d.attempts,"
        " CASE WHEN d.status = 'pending' THEN d.next_attempt_at END AS next_attempt_at,"
        " d.last_status, d.last_error, d.delivered_at,"
        " extract(epoch FROM d.delivered_at - d.flag_created_at) * 1000 AS latency_ms,"
        " coalesce((SELECT jsonb_agg(jsonb_build_object('attempt', a.attempt, 'started_at',"
        "   a.started_at, 'duration_ms', a.duration_ms, 'outcome', a.outcome, 'status',"
        "   a.status, 'error', a.error) ORDER BY a.attempt)"
        "   FROM alert_attempts a WHERE a.delivery_id = d.id), '[]'::jsonb) AS tries"
        " FROM alert_deliveries d JOIN alert_channels c ON c.id = d.channel_id"
        " JOIN flags f ON f.id = d.flag_id"
        " WHERE d.flag_id = %s AND f.study_code = %s ORDER BY d.id",
        (flag_id, study))


async def channel_by_name(conn: AsyncConnection[Any], *, study: str,
                          name: str) -> Channel | None:
    cur = await conn.execute(f"SELECT {_CHANNEL_COLUMNS} FROM alert_channels c"
                             " WHERE c.study_code = %s AND c.name = %s", (study, name))
    row = await cur.fetchone()
    return _channel(row) if row is not None else None
