"""Reading queries: a raw time range with a keyset cursor, N-bucket downsampling, latest values,
one device's values for the flag engine's re-fold, and ECG segments.

Downsampling uses ``date_bin`` anchored at the range start, which PostgreSQL ≥ 14 and
TimescaleDB databases both provide, so the same SQL serves both storage modes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import args_row

from devices.model import Observation, WaveformSegment
from storage.errors import StorageError
from storage.queries._rows import fetch_all

MAX_BUCKETS = 10_000
MAX_PAGE = 10_000
_MS = timedelta(milliseconds=1)
_MINUTE = timedelta(minutes=1)


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
class TimedValue:
    """A stored reading reduced to what a flag rule reads."""

    time: datetime
    value: float
    quality: int


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
    conn: AsyncConnection[Any],
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
        f"{_READING_SELECT} WHERE subject_code = %s AND metric = %s"
        f" AND time >= %s AND time < %s{keyset} ORDER BY time, device_id, seq LIMIT %s",
        [*params, limit],
    )
    return [_observation(r) for r in await cur.fetchall()]


def bucket_width(start: datetime, end: datetime, buckets: int) -> timedelta:
    """Width so that at most ``buckets`` buckets cover [start, end).

    At a minute or more the width is rounded up to whole minutes so buckets align with
    the per-minute rollup; below that, to whole milliseconds.
    """
    if not 1 <= buckets <= MAX_BUCKETS:
        raise QueryError(f"buckets must be 1..{MAX_BUCKETS}, got {buckets}")
    span_ms = (end - start) / _MS
    width_ms = max(1, math.ceil(span_ms / buckets))
    if width_ms >= 60_000:
        width_ms = math.ceil(width_ms / 60_000) * 60_000
    return width_ms * _MS


def _floor_minute(t: datetime) -> datetime:
    return t.replace(second=0, microsecond=0)


def _ceil_minute(t: datetime) -> datetime:
    floor = _floor_minute(t)
    return floor if floor == t else floor + _MINUTE


# Whole minutes come from readings_1m, the ragged edges of the range from raw readings.
_FROM_ROLLUP = """
WITH src AS (
    SELECT bucket AS t, min, max, sum, count FROM readings_1m
    WHERE subject_code = %(subject)s AND metric = %(metric)s
      AND bucket >= %(full_start)s AND bucket < %(full_end)s
    UNION ALL
    SELECT time, value, value, value, 1 FROM readings
    WHERE subject_code = %(subject)s AND metric = %(metric)s
      AND ((time >= %(start)s AND time < %(full_start)s)
           OR (time >= %(full_end)s AND time < %(end)s))
)
SELECT date_bin(%(w)s, t, %(origin)s) AS b, date_bin(%(w)s, t, %(origin)s) + %(w)s,
       min(min), max(max), sum(sum) / sum(count), sum(count)::bigint
FROM src GROUP BY b ORDER BY b
"""

_FROM_RAW = """
SELECT date_bin(%(w)s, time, %(origin)s) AS b, date_bin(%(w)s, time, %(origin)s) + %(w)s,
       min(value), max(value), avg(value), count(*)
FROM readings
WHERE subject_code = %(subject)s AND metric = %(metric)s
  AND time >= %(start)s AND time < %(end)s
GROUP BY b ORDER BY b
"""


async def readings_downsampled(
    conn: AsyncConnection[Any],
    *,
    subject: str,
    metric: str,
    start: datetime,
    end: datetime,
    buckets: int,
) -> list[Bucket]:
    """Min/max/mean/count per bucket over [start, end), at most ``buckets`` buckets.

    Buckets are ``width`` wide on a grid anchored at ``start`` (at the minute before
    ``start`` for minute-multiple widths) and clipped to the range; empty buckets are
    omitted (a gap in the data is not a zero). Widths of a minute or more read the
    per-minute rollup the writer maintains, so weeks of 1 Hz data cost ~1/60 of a scan.
    """
    _check_range(start, end)
    width = bucket_width(start, end, buckets)
    params: dict[str, object] = {"w": width, "start": start, "end": end, "subject": subject,
                                 "metric": metric}
    full_start, full_end = _ceil_minute(start), _floor_minute(end)
    # Binary results straight into Bucket: text parsing and per-row datetime arithmetic
    # were a large share of the request's CPU at 500 buckets.
    cur = conn.cursor(binary=True, row_factory=args_row(Bucket))
    if width >= _MINUTE and full_start < full_end:
        params.update(origin=_floor_minute(start), full_start=full_start, full_end=full_end)
        await cur.execute(_FROM_ROLLUP, params)
    else:
        params.update(origin=start)
        await cur.execute(_FROM_RAW, params)
    found = await cur.fetchall()
    # Only the first bucket can start before the range and only the last end after it.
    if found and found[0].start < start:
        found[0] = replace(found[0], start=start)
    if found and found[-1].end > end:
        found[-1] = replace(found[-1], end=end)
    return found


async def latest_readings(
    conn: AsyncConnection[Any],
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
    return [_observation(r) for r in await cur.fetchall()]


async def device_values(conn: AsyncConnection[Any], *, subject: str, device_id: str,
                        metric: str, start: datetime, end: datetime) -> list[TimedValue]:
    """One device's values of ``metric`` for ``subject`` in [start, end], oldest first."""
    return await fetch_all(
        conn, TimedValue,
        "SELECT time, value, quality FROM readings WHERE subject_code = %s AND device_id = %s"
        " AND metric = %s AND time BETWEEN %s AND %s ORDER BY time",
        (subject, device_id, metric, start, end))


async def ecg_segments(conn: AsyncConnection[Any], *, subject: str, lead: str,
                       start: datetime, end: datetime) -> list[WaveformSegment]:
    """The subject's waveform segments of ``lead`` starting in [start, end), ordered by
    (time, device_id, seq)."""
    return await fetch_all(
        conn, WaveformSegment,
        "SELECT time, subject_code AS subject, device_id, lead, sampling_rate_hz, samples, seq,"
        " received_at, unit, quality, gateway_id, clock_offset_ms FROM waveform_segments"
        " WHERE subject_code = %s AND lead = %s AND time >= %s AND time < %s"
        " ORDER BY time, device_id, seq", (subject, lead, start, end))
