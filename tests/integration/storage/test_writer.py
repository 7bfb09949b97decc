"""The batched writer: exact counts, no doubles, rejects, rollup consistency, partitions."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from devices.model import Observation, WaveformSegment
from storage import partitions
from storage.errors import InvalidReadingError
from storage.migrate import StorageMode
from storage.readings import ReadingWriter

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 1, 23, 0, tzinfo=UTC)


def hr(seq: int, value: float = 70.0, *, device: str = "D-1", subject: str = "S-001",
       at: datetime | None = None) -> Observation:
    t = at if at is not None else T0 + timedelta(seconds=seq)
    return Observation(time=t, subject=subject, device_id=device, metric="heart_rate",
                       value=value, unit="/min", seq=seq, received_at=t + timedelta(seconds=1))


async def count(conn: psycopg.AsyncConnection[object], sql: str = "SELECT count(*) FROM readings",
                ) -> int:
    return (await (await conn.execute(sql)).fetchone())[0]  # type: ignore[index]


async def rollup_matches_raw(conn: psycopg.AsyncConnection[object]) -> None:
    cur = await conn.execute(
        "SELECT r.subject_code, r.metric, date_trunc('minute', r.time) AS m, r.device_id,"
        " min(value), max(value), count(*) FROM readings r GROUP BY 1, 2, 3, 4"
        " EXCEPT SELECT subject_code, metric, bucket, device_id, min, max, count FROM readings_1m")
    assert await cur.fetchall() == []
    assert await count(conn, "SELECT coalesce(sum(count), 0) FROM readings_1m") == \
        await count(conn)


async def test_new_batch_is_written_and_counted(db: psycopg.AsyncConnection[object],
                                                storage_mode: StorageMode) -> None:
    writer = ReadingWriter(mode=storage_mode)
    result = await writer.write_readings(db, [hr(i) for i in range(500)])
    await db.commit()
    assert (result.received, result.inserted, result.duplicates) == (500, 500, 0)
    assert await count(db) == 500
    await rollup_matches_raw(db)


async def test_whole_number_values_mixed_with_fractions(db: psycopg.AsyncConnection[object],
                                                         storage_mode: StorageMode,
                                                         ) -> None:
    """Python callers may pass ints: the rollup arrays must not mix int and float."""
    writer = ReadingWriter(mode=storage_mode)
    batch = [hr(0, 70), hr(1, 70.5), hr(61, 80), hr(62, 81)]  # type: ignore[arg-type]
    result = await writer.write_readings(db, batch)
    await db.commit()
    assert result.inserted == 4
    await rollup_matches_raw(db)


async def test_duplicates_inside_a_batch_and_across_batches(
    db: psycopg.AsyncConnection[object], storage_mode: StorageMode,
) -> None:
    writer = ReadingWriter(mode=storage_mode)
    first = [hr(i) for i in range(100)] + [hr(5), hr(6)]  # two doubles inside the batch
    r1 = await writer.write_readings(db, first)
    await db.commit()
    assert (r1.received, r1.inserted) == (102, 100)

    # Re-sent batch overlapping the first: 50 old, 50 new, and a double of a new one.
    second = [hr(i) for i in range(50, 150)] + [hr(120)]
    r2 = await writer.write_readings(db, second)
    await db.commit()
    assert (r2.received, r2.inserted, r2.duplicates) == (101, 50, 51)

    # The same batch again: nothing new.
    r3 = await writer.write_readings(db, second)
    await db.commit()
    assert r3.inserted == 0
    assert await count(db) == 150
    assert await count(db, "SELECT count(*) FROM (SELECT device_id, metric, seq, time"
                           " FROM readings GROUP BY 1, 2, 3, 4 HAVING count(*) > 1) d") == 0
    await rollup_matches_raw(db)


async def test_same_seq_from_another_device_or_metric_is_not_a_duplicate(
    db: psycopg.AsyncConnection[object], storage_mode: StorageMode,
) -> None:
    writer = ReadingWriter(mode=storage_mode)
    spo2 = Observation(time=T0, subject="S-001", device_id="D-1", metric="spo2", value=97.0,
                       unit="%", seq=0, received_at=T0)
    result = await writer.write_readings(db, [hr(0), hr(0, device="D-2"), spo2])
    await db.commit()
    assert result.inserted == 3


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"value": math.nan}, "not a finite number"),
        ({"value": math.inf}, "not a finite number"),
        ({"value": -math.inf}, "not a finite number"),
        ({"value": 401.0}, "outside the possible range"),
        ({"value": -1.0}, "outside the possible range"),
    ],
)
async def test_bad_values_reject_the_batch_and_write_nothing(
    db: psycopg.AsyncConnection[object], storage_mode: StorageMode, bad: dict[str, float],
    message: str,
) -> None:
    writer = ReadingWriter(mode=storage_mode)
    batch = [hr(i) for i in range(10)]
    good = batch[3]
    batch[3] = Observation(**{**{f: getattr(good, f) for f in good.__struct_fields__}, **bad})
    with pytest.raises(InvalidReadingError, match=f"reading 3: heart_rate value .*{message}"):
        await writer.write_readings(db, batch)
    await db.rollback()
    assert await count(db) == 0


async def test_partitions_are_created_for_backfilled_and_future_days(
    db: psycopg.AsyncConnection[object], storage_mode: StorageMode,
) -> None:
    writer = ReadingWriter(mode=storage_mode)
    old = T0 - timedelta(days=40)
    batch = [hr(1, at=old), hr(2, at=old + timedelta(days=1)), hr(3, at=T0 + timedelta(days=60))]
    result = await writer.write_readings(db, batch)
    await db.commit()
    assert result.inserted == 3
    if storage_mode == "timescaledb":
        # TimescaleDB makes the chunks itself: each row sits in a 1-day chunk that holds it.
        cur = await db.execute(
            "SELECT r.time, c.range_start, c.range_end FROM readings r"
            " JOIN timescaledb_information.chunks c ON c.hypertable_name = 'readings'"
            " AND format('%I.%I', c.chunk_schema, c.chunk_name)::regclass = r.tableoid"
            " ORDER BY r.time")
        found = await cur.fetchall()
        assert len(found) == 3
        for t, lower, upper in found:
            assert lower <= t < upper and upper - lower == timedelta(days=1)
        return
    days = await partitions.existing_days(db, "readings")
    for t in (old, old + timedelta(days=1), T0 + timedelta(days=60)):
        assert t.date() in days
    # Each row sits in the partition of its own day.
    cur = await db.execute("SELECT tableoid::regclass::text, time FROM readings ORDER BY time")
    for table, t in await cur.fetchall():
        assert table == partitions.partition_name("readings", t.date())


async def test_remembered_partition_that_was_rolled_back_is_recreated(
    db: psycopg.AsyncConnection[object], storage_mode: StorageMode,
) -> None:
    writer = ReadingWriter(mode=storage_mode)
    far = T0 + timedelta(days=300)
    await writer.write_readings(db, [hr(1, at=far)])
    await db.rollback()  # the partition creation is rolled back too
    result = await writer.write_readings(db, [hr(2, at=far)])
    await db.commit()
    assert result.inserted == 1


async def test_ensure_ahead_creates_upcoming_partitions(
    db: psycopg.AsyncConnection[object], storage_mode: StorageMode,
) -> None:
    if storage_mode != "partitioned":
        pytest.skip("daily partitions made ahead belong to the partitioned mode; "
                    "TimescaleDB creates chunks on insert")
    now = datetime(2031, 3, 1, tzinfo=UTC)
    created = await partitions.ensure_ahead(db, days_ahead=3, now=now)
    await db.commit()
    assert created == 2 * 5  # readings + waveform_segments, yesterday .. +3 days
    assert await partitions.ensure_ahead(db, days_ahead=3, now=now) == 0
    days = await partitions.existing_days(db, "waveform_segments")
    assert {now.date() + timedelta(days=d) for d in range(-1, 4)} <= days


async def test_waveform_segments_are_idempotent(db: psycopg.AsyncConnection[object],
                                                storage_mode: StorageMode) -> None:
    writer = ReadingWriter(mode=storage_mode)
    segs = [
        WaveformSegment(time=T0 + timedelta(seconds=i), subject="S-001", device_id="ECG-1",
                        lead="I", sampling_rate_hz=130.0, samples=[float(j) for j in range(130)],
                        seq=i, received_at=T0 + timedelta(seconds=i))
        for i in range(20)
    ]
    assert (await writer.write_segments(db, segs)).inserted == 20
    await db.commit()
    again = await writer.write_segments(db, [*segs[10:], segs[0]])
    await db.commit()
    assert (again.received, again.inserted) == (11, 0)
    cur = await db.execute("SELECT count(*), sum(cardinality(samples)) FROM waveform_segments")
    assert await cur.fetchone() == (20, 20 * 130)


async def test_writer_joins_the_callers_transaction(db: psycopg.AsyncConnection[object],
                                                    storage_mode: StorageMode) -> None:
    """The stream sink commits offsets only after the DB commit: a rollback must undo all."""
    writer = ReadingWriter(mode=storage_mode)
    async with db.transaction(force_rollback=True):
        assert (await writer.write_readings(db, [hr(i) for i in range(10)])).inserted == 10
    assert await count(db) == 0
    assert await count(db, "SELECT count(*) FROM readings_1m") == 0
