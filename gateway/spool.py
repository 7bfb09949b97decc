"""The gateway's durable spool: every decoded reading lands here (SQLite, WAL,
synchronous=FULL) before anything else, and leaves only when the platform reports it
persisted.

Life of an item: written (numbered with the device's gateway sequence ``gseq``) →
batched (an envelope is built and stored with the batch) → sent (Kafka acknowledged) →
deleted when the per-device persisted watermark passes its ``gseq``. The broker's
acknowledgement (partition, offset) is kept with the batch: a batch not persisted
``resend_after_s`` after sending is checked against the broker and sent again, byte for
byte (same batch id), only if the broker lost it (``stream/contract/loss_evidence.py``).

Numbering starts, for a new spool, at ``sequence_base``: its creation time in seconds
shifted left by 24 bits. A hub replaced or re-imaged under the same gateway id starts a
new spool whose numbers lie above everything its predecessor sent, so the platform cannot
take its data for duplicates of old ranges; its first batch per device says so
(``starts_spool``), and the platform's watermark closes the gap below it. (A spool created
before this numbering keeps base 0.)

Records that devices keep (CGM, glucose meter) are de-duplicated here by their record
key, so a live copy and a backfilled copy of one record are spooled once.

Disk budget: when the database uses more than ``budget_bytes``, the oldest items of the
lowest priority are dropped first (ECG segments, then vitals, then BP/temperature, glucose
last), never silently: every drop is counted by priority and shown in status, and each
dropped range is sent to the platform as a loss report (an envelope with ``dropped`` in
place of the data) that raises a ``data_dropped`` flag and lets the persisted watermark
pass the range, so the device's spool keeps draining. Batches never span a hole in the
numbering, so a report's range is never covered by a batch.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import msgspec

from stream.contract.envelope import WireReading, WireSegment
from stream.contract.loss_evidence import AckedBatch, digest

logger = logging.getLogger(__name__)

# Lower number = dropped first when the spool is full.
PRIORITY = {"ecg": 0, "heart_rate": 1, "rr_interval": 1, "spo2": 1, "pulse_rate": 1,
            "battery_level": 1, "energy_expended": 1, "body_temperature": 2, "systolic_bp": 2,
            "diastolic_bp": 2, "mean_arterial_pressure": 2, "glucose": 3}
RECORD_KEYS_KEPT = 5_000  # per device, for de-duplicating live and backfilled records
# 2^24 numbers per second of a spool's creation time: a spool would have to number 16.7 M
# items per second of its life to reach its successor's base (bigint holds ~17 000 years).
SEQUENCE_BASE_SHIFT = 24

_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    device_id TEXT NOT NULL, gseq INTEGER NOT NULL, kind TEXT NOT NULL,
    priority INTEGER NOT NULL, payload BLOB NOT NULL, created_at REAL NOT NULL,
    batch_id TEXT, PRIMARY KEY (device_id, gseq)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_unbatched ON items (device_id, gseq) WHERE batch_id IS NULL;
CREATE INDEX IF NOT EXISTS items_drop_order ON items (priority, created_at);
CREATE TABLE IF NOT EXISTS batches (
    batch_id TEXT PRIMARY KEY, device_id TEXT NOT NULL, gseq_from INTEGER NOT NULL,
    gseq_to INTEGER NOT NULL, state TEXT NOT NULL CHECK (state IN ('built', 'sent')),
    attempts INTEGER NOT NULL DEFAULT 0, sent_at REAL, created_at REAL NOT NULL,
    envelope BLOB NOT NULL, ack_partition INTEGER, ack_offset INTEGER, checked_at REAL);
CREATE INDEX IF NOT EXISTS batches_device ON batches (device_id, gseq_from);
CREATE TABLE IF NOT EXISTS devices (
    device_id TEXT PRIMARY KEY, next_gseq INTEGER NOT NULL DEFAULT 0,
    persisted_through INTEGER NOT NULL DEFAULT -1, racp_cursor TEXT);
CREATE TABLE IF NOT EXISTS record_keys (
    device_id TEXT NOT NULL, record INTEGER NOT NULL, added INTEGER NOT NULL,
    PRIMARY KEY (device_id, record)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS dropped (
    device_id TEXT NOT NULL, gseq_from INTEGER NOT NULL, gseq_to INTEGER NOT NULL,
    items INTEGER NOT NULL, first_time TEXT NOT NULL, last_time TEXT NOT NULL);
"""
# Columns added after the first release, for spools written by it.
_ADDED_COLUMNS = {"batches": ("ack_partition INTEGER", "ack_offset INTEGER", "checked_at REAL")}


@dataclass(frozen=True, slots=True)
class PendingItem:
    """A decoded reading or segment waiting for its gateway sequence number."""

    device_id: str
    reading: WireReading | None = None
    segment: WireSegment | None = None
    record_key: int | None = None  # the device's record key: dedup, and the natural seq
    received_wall: float | None = None  # time.time() at notification, for ack latency

    @property
    def priority(self) -> int:
        if self.segment is not None:
            return PRIORITY["ecg"]
        assert self.reading is not None
        return PRIORITY.get(self.reading.metric, 1)


@dataclass(frozen=True, slots=True)
class Batch:
    batch_id: str
    device_id: str
    gseq_from: int
    gseq_to: int
    envelope: bytes
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class SpoolDepth:
    items: int
    unbatched: int
    batches_built: int
    batches_sent: int
    used_bytes: int
    budget_bytes: int
    dropped: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0


# (device_id, gseq_from, gseq_to, payloads) -> (batch_id, envelope bytes)
EnvelopeBuilder = Callable[[str, int, int, list[bytes], list[str]], tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class DroppedRange:
    """Contiguous items of one device the spool dropped, for a loss report."""

    device_id: str
    gseq_from: int
    gseq_to: int
    items: int
    first: str  # ISO measured time of the first item dropped
    last: str


# DroppedRange -> (batch_id, envelope bytes) of its loss report
ReportBuilder = Callable[[DroppedRange], tuple[str, bytes]]

_encoder = msgspec.json.Encoder()


class Spool:
    """Synchronous core (one connection, guarded by a lock); call it via asyncio.to_thread."""

    def __init__(self, path: Path, *, budget_bytes: int, new_base: int | None = None) -> None:
        """Open (or create) the spool at ``path``. ``new_base``: the sequence base a new
        spool gets (default: from its creation time; tests pass 0 to read numbers)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.budget_bytes = budget_bytes
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # survive power loss, not just crashes
        self._db.executescript(_SCHEMA)
        self._add_missing_columns()
        self.sequence_base = self._sequence_base(new_base)
        self._next = self._load_next()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _load_next(self) -> dict[str, int]:
        # A device row made for its cursor or a watermark has numbered nothing (next 0).
        return {d: max(n, self.sequence_base) for d, n in
                self._db.execute("SELECT device_id, next_gseq FROM devices")}

    def _sequence_base(self, new_base: int | None) -> int:
        """This spool's first gateway sequence number per device (see the module doc)."""
        row = self._db.execute("SELECT value FROM meta WHERE name = 'sequence_base'").fetchone()
        if row is not None:
            return int(row[0])
        numbered = self._db.execute("SELECT 1 FROM devices LIMIT 1").fetchone() is not None
        if numbered:
            base = 0
        elif new_base is not None:
            base = new_base
        else:
            base = int(time.time()) << SEQUENCE_BASE_SHIFT
        self._db.execute("INSERT INTO meta (name, value) VALUES ('sequence_base', ?)", (base,))
        return base

    def _add_missing_columns(self) -> None:
        for table, columns in _ADDED_COLUMNS.items():
            have = {r[1] for r in self._db.execute(f"PRAGMA table_info({table})")}
            for column in columns:
                if column.split()[0] not in have:
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column}")

    # -- writing ------------------------------------------------------------------------

    def write(self, items: Iterable[PendingItem], cursors: dict[str, str] | None = None,
              now: float | None = None) -> int:
        """Number and store items in one transaction; return how many were new."""
        now = time.time() if now is None else now
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                stored = duplicates = 0
                touched: set[str] = set()
                for item in items:
                    if item.record_key is not None:
                        cur = db.execute(
                            "INSERT OR IGNORE INTO record_keys (device_id, record, added)"
                            " VALUES (?, ?, ?)", (item.device_id, item.record_key, int(now)))
                        if cur.rowcount == 0:
                            duplicates += 1
                            continue
                    gseq = self._next.get(item.device_id, self.sequence_base)
                    self._next[item.device_id] = gseq + 1
                    touched.add(item.device_id)
                    if item.reading is not None:
                        seq = item.record_key if item.record_key is not None else gseq
                        payload = _encoder.encode(msgspec.structs.replace(item.reading, seq=seq))
                        kind = "reading"
                    else:
                        assert item.segment is not None
                        payload = _encoder.encode(msgspec.structs.replace(item.segment, seq=gseq))
                        kind = "segment"
                    db.execute("INSERT INTO items (device_id, gseq, kind, priority, payload,"
                               " created_at) VALUES (?, ?, ?, ?, ?, ?)",
                               (item.device_id, gseq, kind, item.priority, payload,
                                item.received_wall if item.received_wall is not None else now))
                    stored += 1
                for device_id in touched:
                    db.execute("INSERT INTO devices (device_id, next_gseq) VALUES (?, ?)"
                               " ON CONFLICT (device_id) DO UPDATE SET next_gseq = excluded.next_gseq",
                               (device_id, self._next[device_id]))
                for device_id, cursor in (cursors or {}).items():
                    db.execute("INSERT INTO devices (device_id, racp_cursor) VALUES (?, ?)"
                               " ON CONFLICT (device_id) DO UPDATE SET racp_cursor = excluded.racp_cursor",
                               (device_id, cursor))
                if duplicates:
                    self._bump("duplicate_records", duplicates)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                self._next = self._load_next()
                raise
            self._enforce_budget()
        return stored

    def racp_cursor(self, device_id: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT racp_cursor FROM devices WHERE device_id = ?",
                                   (device_id,)).fetchone()
        return row[0] if row else None

    # -- batching and sending -----------------------------------------------------------

    def build_batches(self, build: EnvelopeBuilder, *, max_items: int, linger_s: float,
                      now: float | None = None) -> list[Batch]:
        """Cut new batches from unbatched items that are numerous or old enough."""
        now = time.time() if now is None else now
        out: list[Batch] = []
        with self._lock:
            db = self._db
            devices = [r[0] for r in db.execute(
                "SELECT DISTINCT device_id FROM items WHERE batch_id IS NULL")]
            for device_id in devices:
                while True:
                    rows = db.execute(
                        "SELECT gseq, kind, payload, created_at FROM items"
                        " WHERE device_id = ? AND batch_id IS NULL ORDER BY gseq LIMIT ?",
                        (device_id, max_items)).fetchall()
                    hole = next((i for i, r in enumerate(rows) if r[0] != rows[0][0] + i), None)
                    if hole is not None:  # a dropped range: the batch ends before it
                        rows = rows[:hole]
                    elif not rows or (len(rows) < max_items and rows[0][3] > now - linger_s):
                        break
                    gseq_from, gseq_to = rows[0][0], rows[-1][0]
                    batch_id, envelope = build(device_id, gseq_from, gseq_to,
                                               [r[2] for r in rows], [r[1] for r in rows])
                    db.execute("BEGIN IMMEDIATE")
                    self._insert_built(batch_id, device_id, gseq_from, gseq_to, now, envelope)
                    db.execute("UPDATE items SET batch_id = ? WHERE device_id = ? AND gseq"
                               " BETWEEN ? AND ? AND batch_id IS NULL",
                               (batch_id, device_id, gseq_from, gseq_to))
                    db.execute("COMMIT")
                    out.append(Batch(batch_id, device_id, gseq_from, gseq_to, envelope))
                    if len(rows) < max_items and hole is None:
                        break
        return out

    def cut_loss_reports(self, build: ReportBuilder, now: float | None = None) -> int:
        """Turn dropped ranges into loss-report batches (sent like any batch); returns
        how many reports were cut."""
        now = time.time() if now is None else now
        with self._lock:
            db = self._db
            rows = db.execute("SELECT device_id, gseq_from, gseq_to, items, first_time,"
                              " last_time FROM dropped ORDER BY device_id, gseq_from").fetchall()
            if not rows:
                return 0
            ranges: list[DroppedRange] = []
            for device_id, lo, hi, items, first, last in rows:
                prev = ranges[-1] if ranges else None
                if prev is not None and prev.device_id == device_id and lo <= prev.gseq_to + 1:
                    ranges[-1] = DroppedRange(device_id, prev.gseq_from, max(hi, prev.gseq_to),
                                              prev.items + items, min(first, prev.first),
                                              max(last, prev.last))
                else:
                    ranges.append(DroppedRange(device_id, lo, hi, items, first, last))
            db.execute("BEGIN IMMEDIATE")
            try:
                for r in ranges:
                    batch_id, envelope = build(r)
                    self._insert_built(batch_id, r.device_id, r.gseq_from, r.gseq_to, now,
                                       envelope)
                db.execute("DELETE FROM dropped")
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return len(ranges)

    def split_batch(self, batch_id: str, build: EnvelopeBuilder,
                    now: float | None = None) -> bool:
        """Replace a batch of several items by two of half its range each (the platform
        rejected it: one bad item must not take its neighbours with it). False if it holds
        fewer than two items (reject it instead)."""
        now = time.time() if now is None else now
        with self._lock:
            db = self._db
            rows = db.execute("SELECT device_id, gseq, kind, payload FROM items"
                              " WHERE batch_id = ? ORDER BY gseq", (batch_id,)).fetchall()
            if len(rows) < 2:
                return False
            device_id = rows[0][0]
            halves = [rows[:len(rows) // 2], rows[len(rows) // 2:]]
            built = [(*build(device_id, h[0][1], h[-1][1], [r[3] for r in h],
                             [r[2] for r in h]), h[0][1], h[-1][1]) for h in halves]
            db.execute("BEGIN IMMEDIATE")
            db.execute("DELETE FROM batches WHERE batch_id = ?", (batch_id,))
            for new_id, envelope, lo, hi in built:
                self._insert_built(new_id, device_id, lo, hi, now, envelope)
                db.execute("UPDATE items SET batch_id = ? WHERE batch_id = ? AND gseq"
                           " BETWEEN ? AND ?", (new_id, batch_id, lo, hi))
            db.execute("COMMIT")
        return True

    def reject_batch(self, batch_id: str) -> int:
        """The platform refused this batch for good (an envelope it judges invalid): drop
        it and its items, keeping the range for a loss report like a budget drop, so the
        platform hears of the gap and the persisted watermark can pass it. Returns the
        items dropped (0 for a rejected loss report itself, which is only deleted)."""
        with self._lock:
            db = self._db
            row = db.execute("SELECT device_id, gseq_from, gseq_to FROM batches"
                             " WHERE batch_id = ?", (batch_id,)).fetchone()
            if row is None:
                return 0
            device_id, lo, hi = row
            n = db.execute("SELECT count(*) FROM items WHERE batch_id = ?",
                           (batch_id,)).fetchone()[0]
            # Reported at the time of rejection: the items' own times may be what was wrong.
            first = last = datetime.fromtimestamp(time.time(), UTC).isoformat()
            db.execute("BEGIN IMMEDIATE")
            db.execute("DELETE FROM items WHERE batch_id = ?", (batch_id,))
            db.execute("DELETE FROM batches WHERE batch_id = ?", (batch_id,))
            if n:
                self._record_dropped(device_id, lo, hi, n, first, last)
            self._bump("dropped_rejected", n)
            db.execute("COMMIT")
        logger.error("the platform rejected batch %s (%s, %d..%d, %d items): dropped, and "
                     "reported as a gap", batch_id, device_id, lo, hi, n)
        return int(n)

    def due_batches(self) -> list[Batch]:
        """Batches to send: never acknowledged, or found lost by the broker."""
        with self._lock:
            rows = self._db.execute(
                "SELECT batch_id, device_id, gseq_from, gseq_to, envelope, attempts FROM batches"
                " WHERE state = 'built' ORDER BY device_id, gseq_from").fetchall()
        return [Batch(*r) for r in rows]

    def mark_sent(self, batch_id: str, now: float | None = None, *,
                  partition: int | None = None, offset: int | None = None) -> list[float]:
        """Record the acknowledgement (where the broker put it); returns the batch's item
        receive times on its first send (latency), nothing on a re-send."""
        now = time.time() if now is None else now
        with self._lock:
            first = self._db.execute("SELECT attempts = 0 FROM batches WHERE batch_id = ?",
                                     (batch_id,)).fetchone()
            self._db.execute("UPDATE batches SET state = 'sent', sent_at = ?, checked_at = NULL,"
                             " attempts = attempts + 1, ack_partition = ?, ack_offset = ?"
                             " WHERE batch_id = ?", (now, partition, offset, batch_id))
            if not first or not first[0]:
                return []
            return [r[0] for r in self._db.execute(
                "SELECT created_at FROM items WHERE batch_id = ?", (batch_id,))]

    def overdue_batches(self, *, resend_after_s: float, now: float | None = None,
                        ) -> list[AckedBatch]:
        """Acknowledged batches not persisted, nor checked, for ``resend_after_s``."""
        now = time.time() if now is None else now
        with self._lock:
            rows = self._db.execute(
                "SELECT batch_id, ack_partition, ack_offset, envelope, sent_at, attempts"
                " FROM batches"
                " WHERE state = 'sent' AND coalesce(checked_at, sent_at) < ?"
                " ORDER BY ack_partition, ack_offset", (now - resend_after_s,)).fetchall()
        return [AckedBatch(batch_id, partition, offset, digest(envelope), sent_at, attempts)
                for batch_id, partition, offset, envelope, sent_at, attempts in rows]

    def mark_checked(self, held: list[str], lost: list[str], now: float | None = None) -> None:
        """Record a check against the broker: ``held`` batches wait again, ``lost`` ones
        are due to be sent again."""
        now = time.time() if now is None else now
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            db.executemany("UPDATE batches SET checked_at = ? WHERE batch_id = ?",
                           [(now, b) for b in held])
            db.executemany("UPDATE batches SET state = 'built' WHERE batch_id = ?",
                           [(b,) for b in lost])
            db.execute("COMMIT")

    def apply_watermark(self, device_id: str, persisted_through: int) -> int:
        """Delete everything of ``device_id`` up to ``persisted_through``; items deleted."""
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            cur = db.execute("DELETE FROM items WHERE device_id = ? AND gseq <= ?",
                             (device_id, persisted_through))
            deleted = cur.rowcount
            db.execute("DELETE FROM batches WHERE device_id = ? AND gseq_to <= ?",
                       (device_id, persisted_through))
            db.execute("INSERT INTO devices (device_id, persisted_through) VALUES (?, ?)"
                       " ON CONFLICT (device_id) DO UPDATE SET persisted_through ="
                       " max(persisted_through, excluded.persisted_through)",
                       (device_id, persisted_through))
            db.execute("DELETE FROM record_keys WHERE device_id = ? AND record NOT IN (SELECT"
                       " record FROM record_keys WHERE device_id = ? ORDER BY record DESC"
                       " LIMIT ?)", (device_id, device_id, RECORD_KEYS_KEPT))
            db.execute("COMMIT")
        return deleted

    def persisted_through(self, device_id: str) -> int:
        with self._lock:
            row = self._db.execute("SELECT persisted_through FROM devices WHERE device_id = ?",
                                   (device_id,)).fetchone()
        return row[0] if row else -1

    # -- budget and inspection ----------------------------------------------------------

    def used_bytes(self) -> int:
        page_size = self._db.execute("PRAGMA page_size").fetchone()[0]
        pages = self._db.execute("PRAGMA page_count").fetchone()[0]
        free = self._db.execute("PRAGMA freelist_count").fetchone()[0]
        return int((pages - free) * page_size)

    def _insert_built(self, batch_id: str, device_id: str, gseq_from: int, gseq_to: int,
                      now: float, envelope: bytes) -> None:
        """A batch ready to send (inside the caller's transaction)."""
        self._db.execute("INSERT INTO batches (batch_id, device_id, gseq_from, gseq_to,"
                         " state, created_at, envelope) VALUES (?, ?, ?, ?, 'built', ?, ?)",
                         (batch_id, device_id, gseq_from, gseq_to, now, envelope))

    def _record_dropped(self, device_id: str, gseq_from: int, gseq_to: int, items: int,
                        first: str, last: str) -> None:
        """A range dropped without its data, kept for a loss report (inside the caller's
        transaction; :meth:`cut_loss_reports`)."""
        self._db.execute("INSERT INTO dropped (device_id, gseq_from, gseq_to, items,"
                         " first_time, last_time) VALUES (?, ?, ?, ?, ?, ?)",
                         (device_id, gseq_from, gseq_to, items, first, last))

    def _bump(self, name: str, by: int) -> None:
        self._db.execute("INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT (name)"
                         " DO UPDATE SET value = value + excluded.value", (name, by))

    def _enforce_budget(self) -> None:
        """Drop oldest lowest-priority items (never silently) until under budget; each
        dropped range is kept for a loss report (:meth:`cut_loss_reports`)."""
        if self.used_bytes() <= self.budget_bytes:
            return
        db = self._db
        target = int(self.budget_bytes * 0.9)
        while self.used_bytes() > target:
            rows = db.execute(
                "SELECT device_id, gseq, priority, batch_id FROM items"
                " ORDER BY priority, created_at LIMIT 500").fetchall()
            if not rows:
                break
            db.execute("BEGIN IMMEDIATE")
            for device_id, gseq, priority, batch_id in rows:
                args: tuple[object, ...]
                if batch_id is not None:  # the stored envelope holds it: drop the batch whole
                    where, args = "batch_id = ?", (batch_id,)
                else:
                    where, args = "device_id = ? AND gseq = ?", (device_id, gseq)
                lo, hi, n, first, last = db.execute(
                    "SELECT min(gseq), max(gseq), count(*), min(json_extract(payload, '$.time')),"
                    f" max(json_extract(payload, '$.time')) FROM items WHERE {where}",
                    args).fetchone()
                if not n:
                    continue  # gone with a batch dropped earlier in this round
                if batch_id is not None:
                    lo, hi = db.execute("SELECT gseq_from, gseq_to FROM batches"
                                        " WHERE batch_id = ?", (batch_id,)).fetchone()
                    db.execute("DELETE FROM batches WHERE batch_id = ?", (batch_id,))
                db.execute(f"DELETE FROM items WHERE {where}", args)
                self._record_dropped(device_id, lo, hi, n, first, last)
                self._bump(f"dropped_priority_{priority}", n)
            db.execute("COMMIT")
        logger.warning("spool over its %d-byte budget: dropped oldest low-priority items "
                       "(reported to the platform)", self.budget_bytes)

    def depth(self) -> SpoolDepth:
        with self._lock:
            db = self._db
            items, unbatched = db.execute(
                "SELECT count(*), count(*) FILTER (WHERE batch_id IS NULL) FROM items").fetchone()
            built, sent = db.execute(
                "SELECT count(*) FILTER (WHERE state = 'built'),"
                " count(*) FILTER (WHERE state = 'sent') FROM batches").fetchone()
            counters = dict(db.execute("SELECT name, value FROM counters").fetchall())
            return SpoolDepth(items, unbatched, built, sent, self.used_bytes(), self.budget_bytes,
                              {k: v for k, v in counters.items() if k.startswith("dropped")},
                              counters.get("duplicate_records", 0))

    def items(self, device_id: str | None = None,
              limit: int = 50) -> list[tuple[str, int, str, str | None, bytes]]:
        """Newest items, for ``trialwire gateway spool`` inspection."""
        with self._lock:
            args: tuple[object, ...]
            if device_id is None:
                sql, args = "SELECT device_id, gseq, kind, batch_id, payload FROM items" \
                            " ORDER BY created_at DESC LIMIT ?", (limit,)
            else:
                sql, args = "SELECT device_id, gseq, kind, batch_id, payload FROM items" \
                            " WHERE device_id = ? ORDER BY gseq DESC LIMIT ?", (device_id, limit)
            return self._db.execute(sql, args).fetchall()
