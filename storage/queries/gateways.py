"""What the platform knows of one home gateway: its study, the devices it serves now
(its active enrollments), and its activation on enrollment."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from storage.queries._rows import fetch_all
from storage.subject_lifecycle import COLLECTING


@dataclass(frozen=True, slots=True)
class GatewayDevice:
    """A device enrolled through the gateway now, with the subject wearing it."""

    study: str
    subject: str
    device_id: str
    device_type: str
    mac: str | None
    serial: str | None


async def active_devices(conn: AsyncConnection[Any], *,
                         gateway_id: str) -> list[GatewayDevice]:
    """The devices of the gateway's enrollments valid now, by device id."""
    return await fetch_all(
        conn, GatewayDevice,
        "SELECT e.study_code AS study, e.subject_code AS subject, d.id AS device_id,"
        " d.device_type, d.mac, d.serial"
        " FROM enrollments e JOIN devices d ON d.id = e.device_id"
        " WHERE e.gateway_id = %s AND e.valid @> now() ORDER BY d.id", (gateway_id,))


async def study_of(conn: AsyncConnection[Any], *, gateway_id: str) -> str | None:
    """The gateway's study, or None for an unknown gateway."""
    cur = await conn.execute("SELECT study_code FROM gateways WHERE id = %s", (gateway_id,))
    row = await cur.fetchone()
    return None if row is None else row[0]


async def activate(conn: AsyncConnection[Any], *, gateway_id: str) -> None:
    await conn.execute("UPDATE gateways SET status = 'active' WHERE id = %s", (gateway_id,))


@dataclass(frozen=True, slots=True)
class GatewayAccess:
    """What an upload from a gateway may carry: its study and status, and every
    (device, subject) pair ever enrolled through it (the sink judges the times)."""

    study: str
    status: str
    pairs: frozenset[tuple[str, str]]
    # Subjects enrolled through it who no longer collect: subject → (status, since, the
    # study's withdrawal policy)
    stopped: dict[str, tuple[str, datetime, str]] = field(default_factory=dict)


async def access(conn: AsyncConnection[Any], *, gateway_id: str) -> GatewayAccess | None:
    """The gateway's study, status and enrolled (device, subject) pairs; None if unknown."""
    cur = await conn.execute("SELECT study_code, status FROM gateways WHERE id = %s",
                             (gateway_id,))
    row = await cur.fetchone()
    if row is None:
        return None
    cur = await conn.execute(
        "SELECT DISTINCT device_id, subject_code FROM enrollments WHERE gateway_id = %s",
        (gateway_id,))
    pairs = frozenset((device, subject) for device, subject in await cur.fetchall())
    cur = await conn.execute(
        "SELECT DISTINCT s.code, s.status, coalesce(s.status_since, s.created_at),"
        " st.withdrawal_policy FROM enrollments e JOIN subjects s ON s.code = e.subject_code"
        " JOIN studies st ON st.code = s.study_code"
        " WHERE e.gateway_id = %s AND NOT s.status = ANY(%s)", (gateway_id, list(COLLECTING)))
    stopped = {str(code): (str(status), since, str(policy))
               for code, status, since, policy in await cur.fetchall()}
    return GatewayAccess(study=row[0], status=row[1], pairs=pairs, stopped=stopped)


async def mark_seen(conn: AsyncConnection[Any], *, seen: dict[str, datetime]) -> None:
    """Record when each gateway was last heard from (never moving the time back)."""
    if not seen:
        return
    async with conn.cursor() as cur:
        await cur.executemany(
            "UPDATE gateways SET last_seen_at = greatest(last_seen_at, %s) WHERE id = %s",
            [(at, gateway_id) for gateway_id, at in sorted(seen.items())])
