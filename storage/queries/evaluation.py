"""What the evaluation harnesses (``deploy/eval``) read back from a run: the flags raised
for their subjects, the values and ECG segments their devices stored, and whether every
device's data is fresh again after a fault."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from storage.queries._rows import fetch_all


@dataclass(frozen=True, slots=True)
class RaisedFlagRow:
    subject: str
    rule_id: str
    window_start: datetime
    window_end: datetime
    raised_at: datetime | None  # from the flag's details; None when it has none


@dataclass(frozen=True, slots=True)
class StoredValue:
    device_id: str
    metric: str
    time: datetime
    value: float
    seq: int


@dataclass(frozen=True, slots=True)
class StoredSegment:
    device_id: str
    time: datetime
    samples: int  # how many
    seq: int


async def flags_of_subjects(conn: AsyncConnection[Any], *,
                            subjects: list[str]) -> list[RaisedFlagRow]:
    return await fetch_all(
        conn, RaisedFlagRow,
        "SELECT subject_code AS subject, rule_id, window_start, window_end,"
        " (details ->> 'raised_at')::timestamptz AS raised_at FROM flags"
        " WHERE subject_code = ANY(%s)", (subjects,))


async def fresh_devices(conn: AsyncConnection[Any], *, devices: list[str], metric: str,
                        since: datetime) -> int:
    """How many of ``devices`` have a value of ``metric`` measured at or after ``since``."""
    cur = await conn.execute(
        "SELECT count(*) FROM (SELECT device_id FROM readings"
        " WHERE device_id = ANY(%s) AND metric = %s"
        " GROUP BY device_id HAVING max(time) >= %s) fresh", (devices, metric, since))
    row = await cur.fetchone()
    return 0 if row is None else int(row[0])


@dataclass(frozen=True, slots=True)
class ReportedLoss:
    device_id: str
    window_start: datetime
    window_end: datetime


async def reported_losses(conn: AsyncConnection[Any], *,
                          devices: list[str]) -> list[ReportedLoss]:
    """The data_dropped flags of ``devices``: ranges their gateways' spools dropped."""
    return await fetch_all(
        conn, ReportedLoss,
        "SELECT device_id, window_start, window_end FROM flags"
        " WHERE rule_id = 'data_dropped' AND device_id = ANY(%s)", (devices,))


async def stored_values(conn: AsyncConnection[Any], *,
                        devices: list[str]) -> list[StoredValue]:
    return await fetch_all(
        conn, StoredValue,
        "SELECT device_id, metric, time, value, seq FROM readings WHERE device_id = ANY(%s)",
        (devices,))


async def stored_segments(conn: AsyncConnection[Any], *,
                          devices: list[str]) -> list[StoredSegment]:
    return await fetch_all(
        conn, StoredSegment,
        "SELECT device_id, time, cardinality(samples) AS samples, seq FROM waveform_segments"
        " WHERE device_id = ANY(%s)", (devices,))


@dataclass(frozen=True, slots=True)
class AlertedFlag:
    """A stored flag as ``eval alerts`` matches it to channels."""

    id: int
    rule_id: str
    severity: str
    created_at: datetime
    site: str | None
    subject: str
    status: str


async def flags_with_sites(conn: AsyncConnection[Any]) -> list[AlertedFlag]:
    """Every flag with its subject's site, oldest first."""
    return await fetch_all(
        conn, AlertedFlag,
        "SELECT f.id, f.rule_id, f.severity, f.created_at, s.site_code AS site,"
        " f.subject_code AS subject, f.status FROM flags f"
        " LEFT JOIN subjects s ON s.code = f.subject_code ORDER BY f.id")


async def gateway_heard_now(conn: AsyncConnection[Any], *, gateway_id: str) -> None:
    """Mark ``gateway_id`` heard from now, as the ingest service does on each request."""
    await conn.execute("UPDATE gateways SET last_seen_at = now() WHERE id = %s", (gateway_id,))


async def entered_long_ago(conn: AsyncConnection[Any], *, at: datetime) -> None:
    """Record every enrollment as entered in the registry at ``at`` (an evaluation's
    devices then count as long enrolled: ``device_never_seen`` judges them at once)."""
    await conn.execute("UPDATE enrollments SET created_at = %s", (at,))
