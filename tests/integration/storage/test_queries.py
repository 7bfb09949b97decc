"""Reading queries against brute-force computations in Python."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from devices.model import Observation
from storage.queries.readings import (
    QueryError,
    ReadingCursor,
    bucket_width,
    latest_readings,
    readings_downsampled,
    readings_range,
)
from tests.fixtures.postgres import writer_for

pytestmark = pytest.mark.integration

T0 = datetime(2026, 10, 30, 22, 0, 0, tzinfo=UTC)
SPAN = timedelta(hours=6)


def reading(i: int, t: datetime, value: float, device: str = "D-1") -> Observation:
    return Observation(time=t, subject="S-001", device_id=device, metric="heart_rate",
                       value=value, unit="/min", seq=i, received_at=t)


@pytest.fixture
async def series(db: psycopg.AsyncConnection[object]) -> list[Observation]:
    """6 h of irregular heart-rate data from two devices, with a 40-minute gap."""
    rng = random.Random(7)
    out: list[Observation] = []
    t = T0
    i = 0
    while t < T0 + SPAN:
        if not (T0 + timedelta(hours=2) <= t < T0 + timedelta(hours=2, minutes=40)):
            out.append(reading(i, t, round(rng.uniform(40, 180), 2), device=rng.choice("AB")))
        t += timedelta(milliseconds=rng.randint(300, 2500))
        i += 1
    writer = await writer_for(db)
    for k in range(0, len(out), 3000):  # several batches, some crossing minute boundaries
        await writer.write_readings(db, out[k:k + 3000])
    await writer.write_readings(db, out[100:400])  # a re-sent slice must not skew rollups
    await db.commit()
    return out


Aggregates = dict[datetime, tuple[float, float, float, int]]


def brute_force(data: list[Observation], start: datetime, end: datetime,
                width: timedelta, origin: datetime) -> Aggregates:
    groups: dict[datetime, list[float]] = {}
    for o in data:
        if start <= o.time < end:
            b = origin + ((o.time - origin) // width) * width
            groups.setdefault(b, []).append(o.value)
    return {b: (min(v), max(v), sum(v) / len(v), len(v)) for b, v in groups.items()}


@pytest.mark.parametrize(
    ("start_offset", "end_offset", "buckets"),
    [
        (timedelta(0), SPAN, 500),  # sub-minute widths: raw path
        (timedelta(0), SPAN, 100),  # 3.6 min -> 4 min: rollup path, aligned start
        (timedelta(seconds=37.25), SPAN - timedelta(seconds=11.5), 50),  # ragged edges
        (timedelta(minutes=90), timedelta(minutes=170), 7),  # spans the gap
        (timedelta(seconds=3), timedelta(seconds=40), 10),  # inside one minute
    ],
)
async def test_downsampling_matches_brute_force(
    db: psycopg.AsyncConnection[object], series: list[Observation],
    start_offset: timedelta, end_offset: timedelta, buckets: int,
) -> None:
    start, end = T0 + start_offset, T0 + end_offset
    result = await readings_downsampled(db, subject="S-001", metric="heart_rate",
                                        start=start, end=end, buckets=buckets)
    width = bucket_width(start, end, buckets)
    origin = start.replace(second=0, microsecond=0) if width >= timedelta(minutes=1) else start
    expected = brute_force(series, start, end, width, origin)
    assert len(result) <= buckets
    assert [max(b, start) for b in sorted(expected)] == [r.start for r in result]
    for r in result:
        key = r.start if r.start != start else min(expected)
        lo, hi, mean, n = expected[key]
        assert (r.min, r.max, r.count) == (lo, hi, n)
        assert r.mean == pytest.approx(mean, rel=1e-12)
        assert start <= r.start < r.end <= end
    assert sum(r.count for r in result) == sum(1 for o in series if start <= o.time < end)


async def test_keyset_pages_cover_the_range_exactly_once(
    db: psycopg.AsyncConnection[object], series: list[Observation],
) -> None:
    start, end = T0 + timedelta(minutes=10), T0 + timedelta(minutes=70)
    seen: list[tuple[datetime, str, int]] = []
    cursor = None
    while True:
        page = await readings_range(db, subject="S-001", metric="heart_rate", start=start,
                                    end=end, limit=333, after=cursor)
        if not page:
            break
        seen += [(o.time, o.device_id, o.seq) for o in page]
        last = page[-1]
        cursor = ReadingCursor(last.time, last.device_id, last.seq)
    expected = sorted((o.time, o.device_id, o.seq) for o in series if start <= o.time < end)
    assert seen == expected


async def test_latest_reading_per_subject_and_metric(db: psycopg.AsyncConnection[object],
                                                     series: list[Observation]) -> None:
    latest = await latest_readings(db, subjects=["S-001", "S-404"],
                                   metrics=["heart_rate", "spo2"])
    newest = max(series, key=lambda o: o.time)
    assert [(o.subject, o.metric, o.time, o.value) for o in latest] == [
        ("S-001", "heart_rate", newest.time, newest.value)
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"start": T0 + SPAN, "end": T0}, "must be after start"),
        ({"start": datetime(2026, 1, 1), "end": T0}, "has no time zone"),
        ({"buckets": 0}, "buckets must be 1..10000"),
        ({"buckets": 10_001}, "buckets must be 1..10000"),
    ],
)
async def test_bad_query_parameters_are_rejected(db: psycopg.AsyncConnection[object],
                                                 kwargs: dict[str, object], message: str) -> None:
    params: dict[str, object] = {"subject": "S-001", "metric": "heart_rate", "start": T0,
                                 "end": T0 + SPAN, "buckets": 10}
    params.update(kwargs)
    with pytest.raises(QueryError, match=message):
        await readings_downsampled(db, **params)  # type: ignore[arg-type]
