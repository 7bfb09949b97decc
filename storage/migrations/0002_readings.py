"""Readings and waveform segments: hypertables on TimescaleDB, daily range partitions otherwise.

Both modes share the table shapes, the natural unique keys and the rollup view names
(``readings_hourly``, ``readings_daily``), so one query layer serves both.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from storage import partitions, timescale
from storage.migrate import MigrationContext
from storage.rollups import ROLLUPS

READINGS = """
CREATE TABLE readings (
    time            timestamptz NOT NULL,  -- measured (device clock corrected to UTC)
    subject_code    text COLLATE "C" NOT NULL,  -- "C": byte order, fast index compares
    device_id       text COLLATE "C" NOT NULL,
    metric          text COLLATE "C" NOT NULL,
    value           double precision NOT NULL,
    unit            text NOT NULL,         -- UCUM, already normalized
    quality         integer NOT NULL DEFAULT 0,
    seq             bigint NOT NULL,       -- gateway sequence / device record number
    received_at     timestamptz NOT NULL,  -- gateway receive time
    gateway_id      text,
    specimen        text,
    clock_offset_ms real,
    ingested_at     timestamptz NOT NULL DEFAULT now()
) {partitioning}
"""

WAVEFORMS = """
CREATE TABLE waveform_segments (
    time             timestamptz NOT NULL,  -- first sample
    subject_code     text COLLATE "C" NOT NULL,
    device_id        text COLLATE "C" NOT NULL,
    lead             text COLLATE "C" NOT NULL,
    sampling_rate_hz double precision NOT NULL CHECK (sampling_rate_hz > 0),
    unit             text NOT NULL DEFAULT 'uV',
    samples          real[] NOT NULL,
    quality          integer NOT NULL DEFAULT 0,
    seq              bigint NOT NULL,
    received_at      timestamptz NOT NULL,
    gateway_id       text,
    clock_offset_ms  real,
    ingested_at      timestamptz NOT NULL DEFAULT now()
) {partitioning}
"""

INDEXES = (
    # The natural key: what makes every write idempotent (ON CONFLICT DO NOTHING).
    "CREATE UNIQUE INDEX readings_natural_key ON readings (device_id, metric, seq, time)",
    # Subject/metric/time-range queries and downsampling read only this index.
    "CREATE INDEX readings_subject_metric_time ON readings (subject_code, metric, time)"
    " INCLUDE (value)",
    # Incremental exports scan by ingestion time; BRIN is nearly free to maintain.
    "CREATE INDEX readings_ingested ON readings USING brin (ingested_at)",
    "CREATE UNIQUE INDEX waveform_natural_key ON waveform_segments (device_id, lead, seq, time)",
    "CREATE INDEX waveform_subject_time ON waveform_segments (subject_code, lead, time)",
)

# Per-minute aggregates maintained by the writer in the same transaction as the rows
# (exactly the rows it inserted), so N-bucket downsampling over weeks reads ~1/60 of the
# data. Plain table in both modes: sum/count, not avg, so buckets combine exactly.
MINUTE_ROLLUP = """
CREATE TABLE readings_1m (
    subject_code  text COLLATE "C" NOT NULL,
    metric        text COLLATE "C" NOT NULL,
    bucket        timestamptz NOT NULL,
    device_id     text COLLATE "C" NOT NULL,
    min           double precision NOT NULL,
    max           double precision NOT NULL,
    sum           double precision NOT NULL,
    count         bigint NOT NULL,
    PRIMARY KEY (subject_code, metric, bucket, device_id)
)
"""

DATE_BIN_ROLLUP = """
CREATE VIEW {view} AS
SELECT date_bin('{width}'::interval, time, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
       subject_code, device_id, metric,
       min(value) AS min, max(value) AS max, avg(value) AS mean, count(*) AS count
FROM readings
GROUP BY 1, 2, 3, 4
"""


async def upgrade(conn: AsyncConnection[Any], ctx: MigrationContext) -> None:
    if ctx.mode == "timescaledb":
        await timescale.create_extension(conn)
        await conn.execute(READINGS.format(partitioning=""))
        await conn.execute(WAVEFORMS.format(partitioning=""))
    else:
        await conn.execute(READINGS.format(partitioning="PARTITION BY RANGE (time)"))
        await conn.execute(WAVEFORMS.format(partitioning="PARTITION BY RANGE (time)"))
    await conn.execute(MINUTE_ROLLUP)
    for statement in INDEXES:
        await conn.execute(statement)
    if ctx.mode == "timescaledb":
        await timescale.make_hypertables(conn)
        await timescale.create_rollups(conn)
    else:
        await partitions.ensure_ahead(conn, days_ahead=ctx.partitions_ahead_days)
        for view, width in ROLLUPS:
            await conn.execute(DATE_BIN_ROLLUP.format(view=view, width=width))
