"""Reading queries: a raw time range with a keyset cursor, N-bucket downsampling, latest values.

Downsampling uses ``date_bin`` anchored at the range start, which PostgreSQL ≥ 14 and
TimescaleDB databases both provide, so the same SQL serves both storage modes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from psycopg import AsyncConnection

from devices.model import Observation
from storage.errors import StorageError

MAX_BUCKETS = 10_000
MAX_PAGE = 10_000


class QueryError(StorageError, ValueError):
    """Bad query parameters (inverted range, naive datetimes, too many buckets)."""

    reason = "bad_query"


@dataclass(frozen=True, slots=True)
class Bucket:
    """Aggregate of the readings in [start, end)."""

    start: datetime
    end: datetime
    min: float
    max: float
    mean: float
    count: int


@dataclass(frozen=True, slots=True)
class ReadingCursor:
    """Keyset position: the last row returned, in (time, device_id, seq) order."""

    time: datetime
    device_id: str
    seq: int


_READING_SELECT = (
    "SELECT time, subject_code, device_id, metric, value, unit, seq, received_at, quality,"
    " gateway_id, specimen, clock_offset_ms FROM readings"
)


def _observation(row: Sequence[object]) -> Observation:
    (time, subject, device, metric, value, unit, seq, received, quality, gateway, specimen,
     offset) = row
    return Observation(
        time=time, subject=subject, device_id=device, metric=metric, value=value,  # type: ignore[arg-type]
        unit=unit, seq=seq, received_at=received, quality=quality, gateway_id=gateway,  # type: ignore[arg-type]
        specimen=specimen, clock_offset_ms=offset,  # type: ignore[arg-type]
    )


def _check_range(start: datetime, end: datetime) -> None:
    for label, value in (("start", start), ("end", end)):
        if value.tzinfo is None:
            raise QueryError(f"{label} {value.isoformat()} has no time zone")
    if end <= start:
        raise QueryError(f"end {end.isoformat()} must be after start {start.isoformat()}")


async def readings_range(
    conn: AsyncConnection[object],
    *,
    subject: str,
    metric: str,
    start: datetime,
    end: datetime,
    limit: int = 1000,
    after: ReadingCursor | None = None,
) -> list[Observation]:
    """Raw readings in [start, end) ordered by (time, device_id, seq), resumable by ``after``."""
    _check_range(start, end)
    if not 1 <= limit <= MAX_PAGE:
        raise QueryError(f"limit must be 1..{MAX_PAGE}, got {limit}")
    params: list[object] = [subject, metric, start, end]
    keyset = ""
    if after is not None:
        keyset = " AND (time, device_id, seq) > (%s, %s, %s)"
        params += [after.time, after.device_id, after.seq]
    cur = await conn.execute(
        f"{_READING_SELECT} WHERE subject_code = %s AND metric = %s"  # type: ignore[arg-type]
        f" AND time >= %s AND time < %s{keyset} ORDER BY time, device_id, seq LIMIT %s",
        [*params, limit],
    )
    return [_observation(r) for r in await cur.fetchall()]  # type: ignore[arg-type]


def bucket_width(start: datetime, end: datetime, buckets: int) -> timedelta:
    """Width so that ``buckets`` buckets cover [start, end), rounded up to whole milliseconds."""
    if not 1 <= buckets <= MAX_BUCKETS:
        raise QueryError(f"buckets must be 1..{MAX_BUCKETS}, got {buckets}")
    span_ms = (end - start) / timedelta(milliseconds=1)
    return timedelta(milliseconds=max(1, math.ceil(span_ms / buckets)))


async def readings_downsampled(
    conn: AsyncConnection[object],
    *,
    subject: str,
    metric: str,
    start: datetime,
    end: datetime,
    buckets: int,
) -> list[Bucket]:
    """Min/max/mean/count per bucket; bucket i covers [start + i·w, start + (i+1)·w).

    Empty buckets are omitted (a gap in the data is not a zero).
    """
    _check_range(start, end)
    width = bucket_width(start, end, buckets)
    cur = await conn.execute(
        "SELECT date_bin(%(w)s, time, %(start)s) AS b, min(value), max(value), avg(value),"
        " count(*) FROM readings"
        " WHERE subject_code = %(subject)s AND metric = %(metric)s"
        " AND time >= %(start)s AND time < %(end)s GROUP BY b ORDER BY b",
        {"w": width, "start": start, "end": end, "subject": subject, "metric": metric},
    )
    return [
        Bucket(start=b, end=min(b + width, end), min=lo, max=hi, mean=float(mean), count=n)  # type: ignore[arg-type,operator]
        for b, lo, hi, mean, n in await cur.fetchall()  # type: ignore[misc]
    ]


async def latest_readings(
    conn: AsyncConnection[object],
    *,
    subjects: Sequence[str],
    metrics: Sequence[str],
) -> list[Observation]:
    """The newest reading per (subject, metric) that has any, ordered by subject and metric."""
    cur = await conn.execute(
        "SELECT r.time, r.subject_code, r.device_id, r.metric, r.value, r.unit, r.seq,"
        " r.received_at, r.quality, r.gateway_id, r.specimen, r.clock_offset_ms"
        " FROM unnest(%s::text[]) AS s(code) CROSS JOIN unnest(%s::text[]) AS m(name)"
        " CROSS JOIN LATERAL (SELECT * FROM readings WHERE subject_code = s.code"
        " AND metric = m.name ORDER BY time DESC LIMIT 1) AS r"
        " ORDER BY r.subject_code, r.metric",
        (list(subjects), list(metrics)),
    )
    return [_observation(r) for r in await cur.fetchall()]  # type: ignore[arg-type]
