"""Decide which acknowledged but unpersisted batches a gateway should send again.

A gateway re-sends a batch only on evidence, never because the platform is slow:
re-sending to a worker that is merely behind multiplies the load that made it slow
(issue 14). Per batch acknowledged at (partition, offset), :func:`judge` gives a verdict:

- ``lost``: the partition's log now starts after the offset (retention deleted it
  unread), or ends at or before it (the broker restarted empty, or was replaced), or the
  record now at the offset of the partition's *first-acknowledged* batch is not that
  batch (the broker restarted empty and other records have since filled the log past
  it; a restart after that acknowledgement lost every later one too, and the lowest
  offset would not do: batches sent after a restart have lower offsets than those it
  lost). Re-sent now.
- ``skipped``: the broker holds it, but the stream worker's consumer group has committed
  past its offset without the sink storing it (a "ghost" commit, as a worker's last
  commit into a broker that had just restarted empty can make). Re-sent, backing off.
- ``waiting``: held, and the group has not got there yet: however long that takes, it
  waits (a frozen worker gets no extra traffic).
- ``unknown``: held, but the group's position cannot be read (no commit yet on that
  partition, another group name): re-sent only after long, backing off
  (:func:`backed_off`).
- ``unanswered``: nothing is known of its partition this time: nothing is decided.

Both sides use this: the gateway's Kafka upload (``stream/kafka/broker_log.py`` gathers
the logs) and the ingest service, which judges for gateways that upload over HTTPS and
answers them with :class:`BatchCheckAnswer`. Pure.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated

import msgspec


class Verdict(StrEnum):
    LOST = "lost"
    SKIPPED = "skipped"
    WAITING = "waiting"
    UNKNOWN = "unknown"
    UNANSWERED = "unanswered"


def digest(envelope: bytes) -> str:
    """How a batch is recognised in the log without shipping its bytes (SHA-256, hex)."""
    return hashlib.sha256(envelope).hexdigest()


@dataclass(frozen=True, slots=True)
class AckedBatch:
    """A batch the broker acknowledged and the platform has not reported persisted."""

    batch_id: str
    partition: int | None  # None: acknowledged before the spool kept offsets
    offset: int | None
    digest: str  # of the envelope bytes sent
    acked_at: float = 0.0  # epoch seconds of the (latest) acknowledgement
    attempts: int = 1  # sends so far


@dataclass(frozen=True, slots=True)
class PartitionLog:
    """What the broker holds of one partition now: its offsets, the digest of the record
    at one offset (None: nothing there) and the stream worker group's next offset to read
    (None: unknown, or the group never committed on this partition)."""

    start: int
    end: int
    probe_offset: int | None = None
    probe_digest: str | None = None
    committed: int | None = None


def probe_offsets(batches: list[AckedBatch]) -> dict[int, int]:
    """The offset to read per partition: that of the batch acknowledged first."""
    first: dict[int, AckedBatch] = {}
    for b in batches:
        if b.partition is None or b.offset is None:
            continue
        seen = first.get(b.partition)
        if seen is None or b.acked_at < seen.acked_at:
            first[b.partition] = b
    return {p: b.offset for p, b in first.items() if b.offset is not None}


def judge(batches: list[AckedBatch], logs: dict[int, PartitionLog]) -> dict[str, Verdict]:
    """The verdict on every batch, given what the broker holds (see the module doc)."""
    expected = {(b.partition, b.offset): b.digest for b in batches}
    refilled = {p for p, log in logs.items() if log.probe_offset is not None
                and log.probe_digest != expected.get((p, log.probe_offset))}
    verdicts: dict[str, Verdict] = {}
    for b in batches:
        if b.partition is None or b.offset is None:
            verdicts[b.batch_id] = Verdict.LOST  # no evidence can be gathered: re-send once
            continue
        log = logs.get(b.partition)
        if log is None:
            verdicts[b.batch_id] = Verdict.UNANSWERED
        elif b.partition in refilled or not log.start <= b.offset < log.end:
            verdicts[b.batch_id] = Verdict.LOST
        elif log.committed is None:
            verdicts[b.batch_id] = Verdict.UNKNOWN
        elif b.offset < log.committed:
            verdicts[b.batch_id] = Verdict.SKIPPED
        else:
            verdicts[b.batch_id] = Verdict.WAITING
    return verdicts


def backed_off(batches: list[AckedBatch], *, now: float, base_s: float, limit: int,
               max_wait_s: float = 6 * 3600.0) -> list[str]:
    """Batches whose last send is ``base_s`` · 2^(sends−1) old (capped at ``max_wait_s``):
    at most ``limit``, oldest first."""
    due = [b for b in batches
           if now - b.acked_at >= min(base_s * 2 ** max(b.attempts - 1, 0), max_wait_s)]
    due.sort(key=lambda b: b.acked_at)
    return [b.batch_id for b in due[:limit]]


# -- over HTTPS: a gateway asks the ingest service to judge its overdue batches ----------

Digest = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]
BatchId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Offset = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]


class CheckedBatch(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    batch_id: BatchId
    partition: Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)]
    offset: Offset
    digest: Digest
    acked_at: Annotated[float, msgspec.Meta(ge=0, le=1e11)]


class BatchCheck(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    batches: Annotated[list[CheckedBatch], msgspec.Meta(max_length=1000)]


class BatchCheckAnswer(msgspec.Struct, frozen=True, kw_only=True):
    verdicts: dict[str, Verdict]
