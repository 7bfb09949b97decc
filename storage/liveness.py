"""Gateways the platform has stopped hearing from: judged by the platform's own receive
time (``gateways.last_seen_at``, kept by the ingest service), never by the gateway's
clock or reports, so a gateway that went dark is noticed although it cannot say so."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from storage.queries._rows import fetch_all


@dataclass(frozen=True, slots=True)
class SilentGateway:
    gateway_id: str
    study: str
    subjects: list[str]  # active subjects enrolled through it now
    last_seen_at: datetime


async def silent_gateways(conn: AsyncConnection[Any], *, now: datetime,
                          silent_s: float) -> list[SilentGateway]:
    """Gateways not retired, heard from before but not within ``silent_s`` of ``now``,
    with the active subjects enrolled through them at ``now``."""
    return await fetch_all(
        conn, SilentGateway,
        "SELECT g.id AS gateway_id, g.study_code AS study,"
        " array_agg(DISTINCT e.subject_code::text ORDER BY e.subject_code::text) AS subjects,"
        " g.last_seen_at"
        " FROM gateways g JOIN enrollments e ON e.gateway_id = g.id AND e.valid @> %(now)s"
        " JOIN subjects s ON s.code = e.subject_code AND s.status = 'active'"
        " WHERE g.status <> 'retired' AND g.last_seen_at IS NOT NULL"
        "   AND g.last_seen_at < %(now)s - make_interval(secs => %(silent)s)"
        " GROUP BY g.id, g.study_code, g.last_seen_at ORDER BY g.id",
        {"now": now, "silent": silent_s})
