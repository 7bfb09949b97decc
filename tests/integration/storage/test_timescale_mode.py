"""The TimescaleDB path, run when the test server has the extension (e.g. --pg-dsn to one)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from devices.model import Observation
from storage import migrate as migrations
from storage import timescale
from storage.pool import connect
from storage.queries.readings import readings_downsampled
from storage.readings import ReadingWriter

pytestmark = pytest.mark.integration


async def test_timescale_detection_explains_itself(empty_dsn: str) -> None:
    conn = await connect(empty_dsn)
    try:
        detection = await timescale.detect(conn)
        assert detection.reason  # always says why, either way
        if not detection.available:
            assert "partitioning" in detection.reason
    finally:
        await conn.close()


async def test_hypertables_caggs_and_queries(empty_dsn: str) -> None:
    conn = await connect(empty_dsn)
    try:
        if not (await timescale.detect(conn)).available:
            pytest.skip("TimescaleDB is not installed on the test server; run with "
                        "--pg-dsn pointing at a TimescaleDB instance to cover this path")
        await migrations.migrate(conn)
        assert (await migrations.status(conn)).mode == "timescaledb"
        cur = await conn.execute("SELECT hypertable_name FROM timescaledb_information.hypertables"
                                 " ORDER BY 1")
        assert [r[0] for r in await cur.fetchall()] == ["readings", "waveform_segments"]
        t0 = datetime(2026, 11, 1, tzinfo=UTC)
        batch = [Observation(time=t0 + timedelta(seconds=i), subject="S-1", device_id="D-1",
                             metric="heart_rate", value=60 + i % 40, unit="/min", seq=i,
                             received_at=t0) for i in range(7200)]
        writer = ReadingWriter(mode="timescaledb")
        assert (await writer.write_readings(conn, batch)).inserted == 7200
        assert (await writer.write_readings(conn, batch)).inserted == 0
        await conn.commit()
        buckets = await readings_downsampled(conn, subject="S-1", metric="heart_rate",
                                             start=t0, end=t0 + timedelta(hours=2), buckets=4)
        assert sum(b.count for b in buckets) == 7200
        cur = await conn.execute("SELECT sum(count) FROM readings_hourly")
        assert (await cur.fetchone())[0] == 7200
    finally:
        await conn.close()
