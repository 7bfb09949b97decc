"""Liveness judged by the platform itself: gateways it has stopped hearing from (its own
receive time, ``gateways.last_seen_at``, kept by the ingest service, never the gateway's
clock or reports, so a gateway that went dark is noticed although it cannot say so), and
enrolled devices that have produced nothing since their enrollment began."""

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


@dataclass(frozen=True, slots=True)
class UnseenDevice:
    study: str
    subject: str
    device_id: str
    device_type: str
    gateway_id: str
    enrolled_at: datetime


async def unseen_devices(conn: AsyncConnection[Any], *, now: datetime,
                         within_s: dict[str, float]) -> list[UnseenDevice]:
    """Devices enrolled now to an active subject through a gateway not retired, enrolled
    longer ago than their type's ``within_s``, with not one reading or waveform segment
    stored for that subject since the enrollment began (a day's slack before it, for
    clocks). "Enrolled" counts from the later of the enrollment's start and its entry in
    the registry: a back-dated enrollment (to take backfilled data) gives the device its
    whole first-data time from when it was entered. Types missing from ``within_s`` are
    not judged."""
    return await fetch_all(
        conn, UnseenDevice,
        "SELECT e.study_code AS study, e.subject_code AS subject, e.device_id,"
        " d.device_type, e.gateway_id,"
        " greatest(coalesce(lower(e.valid), e.created_at), e.created_at) AS enrolled_at"
        " FROM enrollments e JOIN devices d ON d.id = e.device_id"
        " JOIN unnest(%(types)s::text[], %(within)s::float8[]) AS w(device_type, within_s)"
        "   ON w.device_type = d.device_type"
        " JOIN subjects s ON s.code = e.subject_code AND s.status = 'active'"
        " JOIN gateways g ON g.id = e.gateway_id AND g.status <> 'retired'"
        " WHERE e.valid @> %(now)s::timestamptz"
        "   AND greatest(coalesce(lower(e.valid), e.created_at), e.created_at)"
        "       < %(now)s - make_interval(secs => w.within_s)"
        "   AND NOT EXISTS (SELECT 1 FROM readings r WHERE r.device_id = e.device_id"
        "                    AND r.subject_code = e.subject_code"
        "                    AND r.time >= coalesce(lower(e.valid), e.created_at)"
        "                                - interval '1 day')"
        "   AND NOT EXISTS (SELECT 1 FROM waveform_segments v WHERE v.device_id = e.device_id"
        "                    AND v.subject_code = e.subject_code"
        "                    AND v.time >= coalesce(lower(e.valid), e.created_at)"
        "                                - interval '1 day')"
        " ORDER BY e.subject_code, e.device_id",
        {"now": now, "types": list(within_s), "within": list(within_s.values())})
