"""What the benchmarks (``deploy/bench``) ask of the database besides the product's own
queries: the raw binary COPY that is the writer's ceiling, statistics refresh, and the
cheap counters they poll while the pipeline runs."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from psycopg import AsyncConnection, sql

from devices.model import Observation
from storage.readings import READING_COLUMNS, READING_TYPES


def _row(o: Observation) -> tuple[object, ...]:
    return (o.time, o.subject, o.device_id, o.metric, o.value, o.unit, o.quality, o.seq,
            o.received_at, o.gateway_id, o.specimen, o.clock_offset_ms)


async def raw_copy(conn: AsyncConnection[Any], batch: Iterable[Observation]) -> None:
    """One transaction of plain binary COPY into ``readings``: no de-duplication, no rollup."""
    statement = sql.SQL("COPY readings ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in READING_COLUMNS))
    async with conn.transaction(), conn.cursor().copy(statement) as copy:
        copy.set_types(list(READING_TYPES))
        for o in batch:
            await copy.write_row(_row(o))


async def vacuum_analyze(conn: AsyncConnection[Any], *tables: str) -> None:
    """Refresh planner statistics (of ``tables``, or every table); needs autocommit."""
    if not tables:
        await conn.execute("VACUUM ANALYZE")
    for table in tables:
        await conn.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(table)))


async def committed_readings(conn: AsyncConnection[Any]) -> int:
    """Readings committed so far, from the minute rollup (a count(*) of readings would take
    the database's CPU from the workers being measured)."""
    row = await (await conn.execute("SELECT coalesce(sum(count), 0) FROM readings_1m")).fetchone()
    return int(row[0]) if row else 0


async def committed_segments(conn: AsyncConnection[Any]) -> int:
    row = await (await conn.execute("SELECT count(*) FROM waveform_segments")).fetchone()
    return int(row[0]) if row else 0


async def has_flag(conn: AsyncConnection[Any], *, subject: str) -> bool:
    """Whether any flag has been stored for ``subject`` (the latency probes poll this)."""
    cur = await conn.execute("SELECT 1 FROM flags WHERE subject_code = %s", (subject,))
    return await cur.fetchone() is not None


async def pause_policy_jobs(conn: AsyncConnection[Any]) -> None:
    """Stop TimescaleDB's compression and refresh policies from running (ids ≥ 1000 are the
    user jobs): bench data is dated in the past, so they would run under the timed writes."""
    await conn.execute("SELECT alter_job(job_id, scheduled => false)"
                       " FROM timescaledb_information.jobs WHERE job_id >= 1000")
