"""The batched, idempotent writer for readings and waveform segments.

Each batch is checked (finite, in range, canonical unit, UTC-aware times), de-duplicated
in memory on its natural key, copied with binary COPY into a per-connection temporary
staging table, then moved with ``INSERT … ON CONFLICT DO NOTHING`` so rows that exist
already (re-sent or re-consumed batches) cost nothing and are never doubled. The
returned counts are exact: ``inserted`` is what the INSERT reports.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
from psycopg import AsyncConnection
from psycopg import errors as pg_errors
from psycopg.pq import TransactionStatus

from devices.model import METRICS, Observation, WaveformSegment, check_value, metric
from storage import partitions, timescale
from storage.errors import InvalidReadingError, classify
from storage.migrate import StorageMode
from storage.sample_arrays import Float4ArrayBinaryDumper

logger = logging.getLogger(__name__)

READING_COLUMNS = (
    "time", "subject_code", "device_id", "metric", "value", "unit", "quality", "seq",
    "received_at", "gateway_id", "specimen", "clock_offset_ms",
)
READING_TYPES = (
    "timestamptz", "text", "text", "text", "float8", "text", "int4", "int8",
    "timestamptz", "text", "text", "float4",
)
SEGMENT_COLUMNS = (
    "time", "subject_code", "device_id", "lead", "sampling_rate_hz", "unit", "samples",
    "quality", "seq", "received_at", "gateway_id", "clock_offset_ms",
)
SEGMENT_TYPES = (
    "timestamptz", "text", "text", "text", "float8", "text", "float4[]", "int4", "int8",
    "timestamptz", "text", "float4",
)
MAX_SEGMENT_SAMPLES = 100_000
FLOAT4_MAX = 3.4028234663852886e38
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)  # nothing a trial records predates this


@dataclass(frozen=True, slots=True)
class WriteResult:
    """Counts for one batch: ``received`` = ``inserted`` + ``duplicates``."""

    received: int
    inserted: int

    @property
    def duplicates(self) -> int:
        return self.received - self.inserted


def _explain(obs: Observation, index: int) -> str:
    """The precise reason an observation failed the fast check in validate_observation."""
    problem = check_value(obs.metric, obs.value)
    if problem is not None:
        return f"reading {index}: {problem}"
    expected_unit = metric(obs.metric).unit
    if obs.unit != expected_unit:
        return f"reading {index}: {obs.metric} must be in {expected_unit!r}, got {obs.unit!r}"
    for label, value in (("time", obs.time), ("received_at", obs.received_at)):
        problem = _time_problem(label, value)
        if problem is not None:
            return f"reading {index}: {problem}"
    if obs.seq < 0:
        return f"reading {index}: seq {obs.seq} is negative"
    return f"reading {index}: subject and device_id are required"


# metric -> (canonical unit, lowest, highest possible value); NaN fails both comparisons.
_LIMITS = {m.name: (m.unit, m.valid_min, m.valid_max) for m in METRICS.values()}


def validate_observation(obs: Observation, index: int = 0) -> None:
    """Raise InvalidReadingError (with the reading's index) if ``obs`` cannot be stored.

    One combined test on the hot path; the precise reason is worked out only on failure.
    """
    limits = _LIMITS.get(obs.metric)
    if (
        limits is not None
        and obs.unit == limits[0]
        and limits[1] <= obs.value <= limits[2]
        and obs.time.tzinfo is not None
        and obs.received_at.tzinfo is not None
        and obs.time >= _EARLIEST
        and obs.received_at >= _EARLIEST
        and obs.seq >= 0
        and obs.subject
        and obs.device_id
    ):
        return
    raise InvalidReadingError(_explain(obs, index), index=index)


def _time_problem(label: str, value: datetime) -> str | None:
    """Why a timestamp cannot be stored (naive, or before 2000), or None."""
    if value.tzinfo is None or value.utcoffset() is None:
        return f"{label} {value!r} has no time zone"
    if value < _EARLIEST:
        return f"{label} {value.isoformat()} is before 2000"
    return None


def _check_time(label: str, value: datetime, index: int) -> None:
    problem = _time_problem(label, value)
    if problem is not None:
        raise InvalidReadingError(f"segment {index}: {problem}", index=index)


def validate_segment(seg: WaveformSegment, index: int = 0) -> None:
    """Raise InvalidReadingError if a waveform segment cannot be stored."""
    _check_time("time", seg.time, index)
    _check_time("received_at", seg.received_at, index)
    if not (math.isfinite(seg.sampling_rate_hz) and seg.sampling_rate_hz > 0):
        raise InvalidReadingError(
            f"segment {index}: sampling rate {seg.sampling_rate_hz!r} Hz is not positive",
            index=index)
    if not 0 < len(seg.samples) <= MAX_SEGMENT_SAMPLES:
        raise InvalidReadingError(
            f"segment {index}: {len(seg.samples)} samples (must be 1..{MAX_SEGMENT_SAMPLES})",
            index=index)
    # Two C-level passes: a NaN or an infinity makes the sum so; abs(x) <= the largest
    # real (float4, the column's type) keeps the rest storable.
    if not math.isfinite(sum(map(abs, seg.samples))):
        raise InvalidReadingError(f"segment {index}: samples contain NaN or infinity",
                                  index=index)
    if max(map(abs, seg.samples)) > FLOAT4_MAX:
        raise InvalidReadingError(f"segment {index}: a sample is beyond the range of real",
                                  index=index)
    if seg.seq < 0:
        raise InvalidReadingError(f"segment {index}: seq {seg.seq} is negative", index=index)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MINUTE = timedelta(minutes=1)
RollupCells = dict[tuple[object, object, object, int], list[float]]


def add_to_rollup(cells: RollupCells, row: tuple[Any, ...]) -> None:
    """Fold one reading row (READING_COLUMNS order) into per-minute min/max/sum/count cells."""
    minute = int(row[0].timestamp()) // 60
    key = (row[1], row[3], row[2], minute)  # subject, metric, device, minute
    value = float(row[4])  # an int value would mix array types
    cell = cells.get(key)
    if cell is None:
        cells[key] = [value, value, value, 1]
    else:
        if value < cell[0]:
            cell[0] = value
        elif value > cell[1]:
            cell[1] = value
        cell[2] += value
        cell[3] += 1


def rollup_rows(rows: Iterable[tuple[Any, ...]], cells: RollupCells | None = None,
                ) -> RollupCells:
    """:func:`add_to_rollup` for many rows, fast when consecutive rows share a series and
    a minute (a batch is envelopes of one device's readings in time order): the minute
    is worked out, and the cell looked up, only when the row leaves the current one."""
    cells = {} if cells is None else cells
    cell: list[float] | None = None
    subject = metric_name = device = None
    start = end = _EPOCH
    for row in rows:
        t = row[0]
        if (cell is None or not start <= t < end
                or row[1] != subject or row[3] != metric_name or row[2] != device):
            subject, device, metric_name = row[1], row[2], row[3]
            minute = int(t.timestamp()) // 60
            start = _EPOCH + minute * _MINUTE
            end = start + _MINUTE
            key = (subject, metric_name, device, minute)
            cell = cells.get(key)
            if cell is None:
                value = float(row[4])
                cells[key] = cell = [value, value, 0.0, 0]
        value = float(row[4])  # an int value would mix array types
        if value < cell[0]:
            cell[0] = value
        elif value > cell[1]:
            cell[1] = value
        cell[2] += value
        cell[3] += 1
    return cells


def rollup_columns(cells: RollupCells) -> list[list[object]]:
    """readings_1m upsert parameters (column arrays), sorted by key.

    Sorting gives every writer the same lock order on rollup rows, so concurrent
    writers cannot deadlock on them.
    """
    ordered = sorted(cells.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][3], kv[0][2]))
    columns: list[list[object]] = [[] for _ in range(8)]
    for (subject, metric_name, device, minute), (lo, hi, total, n) in ordered:
        for column, value in zip(columns, (subject, metric_name, _EPOCH + minute * _MINUTE,
                                           device, lo, hi, total, int(n)), strict=True):
            column.append(value)
    return columns


_ROLLUP_UPSERT = (
    "INSERT INTO readings_1m (subject_code, metric, bucket, device_id, min, max, sum, count)"
    " SELECT * FROM unnest(%s::text[], %s::text[], %s::timestamptz[], %s::text[],"
    " %s::float8[], %s::float8[], %s::float8[], %s::int8[])"
    " ON CONFLICT (subject_code, metric, bucket, device_id) DO UPDATE SET"
    " min = LEAST(readings_1m.min, EXCLUDED.min),"
    " max = GREATEST(readings_1m.max, EXCLUDED.max),"
    " sum = readings_1m.sum + EXCLUDED.sum,"
    " count = readings_1m.count + EXCLUDED.count"
)


@dataclass(frozen=True, slots=True)
class _Table:
    name: str
    columns: tuple[str, ...]
    types: tuple[str, ...]
    key: tuple[str, ...]  # natural key columns (the unique index)

    @property
    def column_list(self) -> str:
        return ", ".join(self.columns)

    def key_of(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(row[self.columns.index(c)] for c in self.key)


# The unique key of each table (migration 0010): the natural key plus the subject code.
_READINGS = _Table("readings", READING_COLUMNS, READING_TYPES,
                   ("subject_code", "metric", "time", "device_id", "seq"))
_SEGMENTS = _Table("waveform_segments", SEGMENT_COLUMNS, SEGMENT_TYPES,
                   ("subject_code", "lead", "time", "device_id", "seq"))


@dataclass
class ReadingWriter:
    """Writes batches on a caller-provided connection, inside the caller's transaction if any.

    Fast path: binary COPY straight into the table under a savepoint, so new data (the
    common case) costs what a raw COPY costs. If any row already exists — a re-sent
    batch, or a duplicate inside the batch — the savepoint is rolled back and the batch
    goes through a staging table and ``INSERT … ON CONFLICT DO NOTHING RETURNING``, so
    exactly the new rows are counted and added to the minute rollup.

    ``mode`` is the storage mode from the migration; in ``partitioned`` mode the writer
    makes sure the daily partitions a batch touches exist (remembering those it has seen).

    In ``timescaledb`` mode, readings older than a continuous aggregate's refresh-policy
    look-back (3 days hourly, 7 days daily) would never reach that aggregate, so the
    writer refreshes the buckets such a batch touched once its rows are committed:
    at once when the batch was its own transaction, otherwise when the caller, after its
    commit, calls :meth:`refresh_backfilled` (the stream worker does, after each batch).
    """

    mode: StorageMode
    _known_days: dict[str, set[date]] = field(default_factory=dict)
    # (aggregate, start, end) windows of committed-or-about-to-be backfills to refresh.
    _stale: set[tuple[str, datetime, datetime]] = field(default_factory=set)

    @property
    def backfill_pending(self) -> bool:
        """Whether backfilled readings still wait for :meth:`refresh_backfilled`."""
        return bool(self._stale)

    async def refresh_backfilled(self, conn: AsyncConnection[Any]) -> int:
        """Refresh the continuous-aggregate windows of earlier backfills; count refreshed.

        Call it after the transaction holding the rows committed, on an idle connection
        (a refresh cannot run in a transaction block). A no-op in partitioned mode, whose
        rollups are plain views.
        """
        if not self._stale:
            return 0
        if conn.info.transaction_status != TransactionStatus.IDLE:
            return 0
        done = 0
        for view, start, end in sorted(self._stale):
            await timescale.refresh(conn, view, start, end)
            self._stale.discard((view, start, end))
            done += 1
        logger.info("refreshed %d continuous-aggregate window(s) after a backfill", done)
        return done

    async def write_readings(self, conn: AsyncConnection[Any],
                             batch: Sequence[Observation], *, validated: bool = False,
                             ) -> WriteResult:
        """Store ``batch`` idempotently; return received/inserted counts. ``validated``:
        the caller already ran :func:`validate_observation` on every reading."""
        if not validated:
            for i, obs in enumerate(batch):
                validate_observation(obs, i)
        rows = [(obs.time, obs.subject, obs.device_id, obs.metric, obs.value, obs.unit,
                 obs.quality, obs.seq, obs.received_at, obs.gateway_id, obs.specimen,
                 obs.clock_offset_ms) for obs in batch]
        cells = rollup_rows(rows)
        idle = conn.info.transaction_status == TransactionStatus.IDLE
        inserted = await self._store(conn, _READINGS, rows, cells)
        if inserted and self.mode == "timescaledb":
            first = min(row[0] for row in rows)
            last = max(row[0] for row in rows)
            self._stale.update(timescale.refresh_windows(first, last,
                                                         datetime.now(UTC)))
            if idle:  # the batch was its own transaction, committed by now
                try:
                    await self.refresh_backfilled(conn)
                except psycopg.Error as exc:  # the rows are stored; the windows stay pending
                    logger.warning("refreshing continuous aggregates after a backfill failed"
                                   " (kept for the next call): %s", exc)
        return WriteResult(received=len(batch), inserted=inserted)

    async def write_segments(self, conn: AsyncConnection[Any],
                             batch: Sequence[WaveformSegment], *, validated: bool = False,
                             ) -> WriteResult:
        """Store waveform segments idempotently (one row per segment)."""
        rows: list[tuple[Any, ...]] = []
        for i, seg in enumerate(batch):
            if not validated:
                validate_segment(seg, i)
            rows.append((seg.time, seg.subject, seg.device_id, seg.lead, seg.sampling_rate_hz,
                         seg.unit, seg.samples, seg.quality, seg.seq, seg.received_at,
                         seg.gateway_id, seg.clock_offset_ms))
        inserted = await self._store(conn, _SEGMENTS, rows, None)
        return WriteResult(received=len(batch), inserted=inserted)

    async def _store(self, conn: AsyncConnection[Any], table: _Table,
                     rows: Sequence[tuple[Any, ...]], cells: RollupCells | None) -> int:
        if not rows:
            return 0
        first = min(row[0] for row in rows)
        last = max(row[0] for row in rows)
        try:
            try:
                return await self._store_once(conn, table, rows, cells, first, last)
            except pg_errors.CheckViolation:
                # "no partition of relation found for row": a partition we remembered
                # was rolled back with its transaction. Forget and try once more.
                if self.mode != "partitioned":
                    raise
                self._known_days.pop(table.name, None)
                return await self._store_once(conn, table, rows, cells, first, last)
        except InvalidReadingError:
            raise
        except Exception as exc:
            raise classify(exc) from exc

    async def _store_once(self, conn: AsyncConnection[Any], table: _Table,
                          rows: Sequence[tuple[Any, ...]], cells: RollupCells | None,
                          first: datetime, last: datetime) -> int:
        async with conn.transaction():
            if self.mode == "partitioned":
                await self._ensure_partitions(conn, table.name, first, last)
            try:
                async with conn.transaction():  # savepoint for the optimistic COPY
                    await self._copy(conn, table.name, table, rows)
                inserted = len(rows)
            except pg_errors.UniqueViolation:
                new_rows = await self._insert_new(conn, table, rows)
                inserted = len(new_rows)
                if cells is not None:
                    cells = rollup_rows(new_rows)
            if cells:
                await conn.execute(_ROLLUP_UPSERT, rollup_columns(cells))
            return inserted

    @staticmethod
    async def _copy(conn: AsyncConnection[Any], target: str, table: _Table,
                    rows: Iterable[tuple[Any, ...]]) -> None:
        cursor = conn.cursor()
        if "float4[]" in table.types:  # on this cursor only: COPY looks dumpers up by oid
            cursor.adapters.register_dumper(None, Float4ArrayBinaryDumper)
        async with cursor.copy(
            f"COPY {target} ({table.column_list}) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(list(table.types))
            for row in rows:
                await copy.write_row(row)

    async def _insert_new(self, conn: AsyncConnection[Any], table: _Table,
                          rows: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """Conflict path: stage, insert what is new, return exactly the rows inserted."""
        by_key = {table.key_of(row): row for row in rows}
        stage = f"_stage_{table.name}"
        await conn.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage}"
            f" (LIKE {table.name} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
        )
        await conn.execute(f"TRUNCATE {stage}")
        await self._copy(conn, stage, table, by_key.values())
        cur = await conn.execute(
            f"INSERT INTO {table.name} ({table.column_list})"
            f" SELECT {table.column_list} FROM {stage}"
            f" ON CONFLICT DO NOTHING RETURNING {', '.join(table.key)}"
        )
        return [by_key[tuple(key)] for key in await cur.fetchall()]

    async def _ensure_partitions(self, conn: AsyncConnection[Any], table: str,
                                 first: datetime, last: datetime) -> None:
        known = self._known_days.setdefault(table, set())
        wanted = [d for d in partitions.days_between(first, last) if d not in known]
        if not wanted:
            return
        missing = [d for d in wanted if d not in await partitions.existing_days(conn, table)]
        if missing:
            # Serialise creators of the same table so concurrent writers never race.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (table,))
            await partitions.create_days(conn, table, missing)
            logger.info("created %d partition(s) of %s", len(missing), table)
        known.update(wanted)
