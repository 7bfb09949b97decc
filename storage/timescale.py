"""Everything TimescaleDB-specific, kept small so it can be checked against Timescale's docs.

Used only when the ``timescaledb`` extension is installed in the database. The calls
follow TimescaleDB 2.x's documented API: ``create_hypertable`` with ``by_range``
(2.13+), ``ALTER TABLE ... SET (timescaledb.compress, compress_segmentby,
compress_orderby)``, ``add_compression_policy``, ``add_retention_policy`` and
continuous aggregates (``CREATE MATERIALIZED VIEW ... WITH (timescaledb.continuous)``
+ ``add_continuous_aggregate_policy``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from psycopg import AsyncConnection, sql

from storage.rollups import ROLLUPS

EXTENSION = "timescaledb"

# (table, time column, chunk interval, segment-by columns, order-by). Every column of
# the natural-key unique index is in segment-by or order-by, so ON CONFLICT checks
# against compressed chunks need not decompress whole batches.
HYPERTABLES: tuple[tuple[str, str, str, str, str], ...] = (
    ("readings", "time", "1 day", "subject_code, device_id, metric", "time DESC, seq"),
    ("waveform_segments", "time", "6 hours", "subject_code, device_id, lead", "time DESC, seq"),
)
COMPRESS_AFTER = "7 days"

# How far back each continuous aggregate's refresh policy looks (late/backfilled data).
# Older writes are refreshed by the writer itself (``refresh_windows``/``refresh``).
REFRESH_START_OFFSET = {"readings_hourly": "3 days", "readings_daily": "7 days"}
_START_OFFSET = {"readings_hourly": timedelta(days=3), "readings_daily": timedelta(days=7)}
_WIDTH = {"1 hour": timedelta(hours=1), "1 day": timedelta(days=1)}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Detection:
    """Whether TimescaleDB is usable here, and why (shown by ``trialwire db status``)."""

    available: bool
    installed_version: str | None
    reason: str


async def detect(conn: AsyncConnection[Any]) -> Detection:
    """Is the extension installed, installable (and preloaded, with the community license)?

    ``pg_available_extensions`` lists timescaledb whenever its files are installed, but
    CREATE EXTENSION fails with FATAL unless it is in shared_preload_libraries; the loader
    defines ``timescaledb.disable_load`` only when preloaded, which any role can read.
    Apache-only builds lack compression and continuous aggregates.
    """
    cur = await conn.execute(
        "SELECT default_version, installed_version,"
        " current_setting('timescaledb.disable_load', true),"
        " current_setting('timescaledb.license', true)"
        " FROM pg_available_extensions WHERE name = %s",
        (EXTENSION,),
    )
    row = await cur.fetchone()
    if row is None:
        return Detection(False, None, "timescaledb is not in pg_available_extensions on this "
                                      "server; using native range partitioning")
    default_version, installed, disable_load, license_ = row
    if disable_load is None or disable_load == "on":
        return Detection(False, None, f"timescaledb {default_version} is installed on the server "
                                      "but not preloaded (shared_preload_libraries); using "
                                      "native range partitioning")
    if license_ == "apache":
        return Detection(False, None, "timescaledb runs with the Apache-only license (no "
                                      "compression or continuous aggregates); using native "
                                      "range partitioning")
    if installed:
        return Detection(True, str(installed), f"timescaledb {installed} is installed")
    return Detection(True, None, f"timescaledb {default_version} is available and will be "
                                 "created by the migration")


async def create_extension(conn: AsyncConnection[Any]) -> None:
    await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")


async def make_hypertables(conn: AsyncConnection[Any]) -> None:
    """Convert the (empty) readings tables to hypertables with compression policies."""
    for table, column, interval, segment_by, order_by in HYPERTABLES:
        await conn.execute(
            # create_default_indexes => false: no extra (time DESC) index; the one unique
            # key of migration 0010 serves every query (docs/storage.md).
            "SELECT create_hypertable(%s::regclass, by_range(%s, %s::interval),"
            " create_default_indexes => false)",
            (table, column, interval),
        )
        await conn.execute(
            sql.SQL(
                "ALTER TABLE {} SET (timescaledb.compress,"
                " timescaledb.compress_segmentby = {},"
                " timescaledb.compress_orderby = {})"
            ).format(sql.Identifier(table), sql.Literal(segment_by), sql.Literal(order_by))
        )
        await conn.execute(
            "SELECT add_compression_policy(%s::regclass, %s::interval, if_not_exists => true)",
            (table, COMPRESS_AFTER),
        )


async def create_rollups(conn: AsyncConnection[Any]) -> None:
    """Hourly and daily continuous aggregates with the same columns as the date_bin views."""
    for view, width in ROLLUPS:
        start_offset = REFRESH_START_OFFSET[view]
        await conn.execute(
            sql.SQL(
                "CREATE MATERIALIZED VIEW {view}"
                # materialized_only = false: recent, not yet materialized buckets are
                # computed live, like the date_bin views of the partitioned mode.
                " WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS"
                " SELECT time_bucket({width}::interval, time) AS bucket,"
                " subject_code, device_id, metric,"
                " min(value) AS min, max(value) AS max, avg(value) AS mean, count(*) AS count"
                " FROM readings GROUP BY bucket, subject_code, device_id, metric"
                " WITH NO DATA"
            ).format(view=sql.Identifier(view), width=sql.Literal(width))
        )
        await conn.execute(
            "SELECT add_continuous_aggregate_policy(%s::regclass,"
            " start_offset => %s::interval, end_offset => %s::interval,"
            " schedule_interval => %s::interval)",
            (view, start_offset, width, width),
        )


def _floor(t: datetime, width: timedelta) -> datetime:
    return _EPOCH + (t - _EPOCH) // width * width


def refresh_windows(first: datetime, last: datetime, now: datetime,
                    ) -> list[tuple[str, datetime, datetime]]:
    """The (aggregate, start, end) windows that rows written in [first, last] leave stale.

    A refresh policy only looks back ``start_offset``; a bucket that starts before that is
    never refreshed again, so a write there needs an explicit refresh of exactly the
    buckets it touched (window aligned outwards to whole buckets: TimescaleDB refreshes
    only buckets entirely inside the window).
    """
    windows = []
    for view, width in ROLLUPS:
        step = _WIDTH[width]
        if _floor(first, step) < now - _START_OFFSET[view]:
            windows.append((view, _floor(first, step), _floor(last, step) + step))
    return windows


async def refresh(conn: AsyncConnection[Any], view: str, start: datetime,
                  end: datetime) -> None:
    """``CALL refresh_continuous_aggregate`` for one window; ``conn`` must be idle.

    The call cannot run inside a transaction block, so it runs in autocommit mode. Only
    the invalidated parts of the window are recomputed (TimescaleDB logs the writes).
    """
    autocommit = conn.autocommit
    await conn.set_autocommit(True)
    try:
        await conn.execute("CALL refresh_continuous_aggregate(%s::regclass, %s, %s)",
                           (view, start, end))
    finally:
        await conn.set_autocommit(autocommit)


async def drop_default_time_indexes(conn: AsyncConnection[Any]) -> list[str]:
    """Drop the (time DESC) indexes ``create_hypertable`` added before it was told not to."""
    dropped = []
    for table, column, *_ in HYPERTABLES:
        cur = await conn.execute(
            "SELECT i.indexrelid::regclass::text FROM pg_index i"
            " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]"
            " WHERE i.indrelid = %s::regclass AND NOT i.indisunique AND i.indnatts = 1"
            " AND a.attname = %s",
            (table, column))
        for (index,) in await cur.fetchall():
            await conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(str(index))))
            dropped.append(str(index))
    return dropped


MIN_RETENTION_DAYS = 14  # beyond every continuous aggregate's refresh look-back (7 days)


async def set_retention(conn: AsyncConnection[Any], table: str, days: int | None) -> None:
    """Retention policy hook: drop chunks older than ``days`` (None removes the policy).

    Refusing windows shorter than the aggregates' refresh look-back keeps a refresh over
    dropped chunks from deleting rollup buckets.
    """
    if days is not None and days < MIN_RETENTION_DAYS:
        raise ValueError(f"retention of {days} days is shorter than the minimum "
                         f"{MIN_RETENTION_DAYS} (continuous-aggregate refresh look-back)")
    await conn.execute("SELECT remove_retention_policy(%s::regclass, if_exists => true)",
                       (table,))
    if days is not None:
        await conn.execute("SELECT add_retention_policy(%s::regclass, %s::interval)",
                           (table, f"{int(days)} days"))
