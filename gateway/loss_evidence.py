"""Decide which acknowledged but unpersisted batches the broker no longer holds.

A gateway re-sends a batch only on evidence that the broker lost it, never because the
platform is slow: re-sending to a worker that is merely behind multiplies the load that
made it slow (issue 14). Evidence, per batch acknowledged at (partition, offset):

- the partition's log now starts after the offset (retention deleted it unread), or ends
  at or before it (the broker restarted empty, or was replaced);
- the record now at that offset is not the batch's envelope (the broker restarted empty
  and other records have since filled the log past the offset).

Pure: the I/O that gathers a :class:`PartitionLog` is in ``gateway/broker_log.py``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AckedBatch:
    """A batch the broker acknowledged and the platform has not reported persisted."""

    batch_id: str
    partition: int | None  # None: acknowledged before the spool kept offsets
    offset: int | None
    envelope: bytes


@dataclass(frozen=True, slots=True)
class PartitionLog:
    """What the broker holds of one partition now; ``probe`` is the value at one offset
    (None: nothing there)."""

    start: int
    end: int
    probe_offset: int | None = None
    probe: bytes | None = None


def probe_offsets(batches: list[AckedBatch]) -> dict[int, int]:
    """The offset to read per partition: the lowest acknowledged one.

    A broker that restarted empty lost every record written before the restart; if the
    lowest-offset batch is still there, no restart happened since it was written."""
    out: dict[int, int] = {}
    for b in batches:
        if b.partition is None or b.offset is None:
            continue
        out[b.partition] = min(out.get(b.partition, b.offset), b.offset)
    return out


def lost_batches(batches: list[AckedBatch], logs: dict[int, PartitionLog]) -> list[str]:
    """Batch ids the broker no longer holds; a partition with no log answer decides nothing."""
    expected = {(b.partition, b.offset): b.envelope for b in batches}
    reset = {p for p, log in logs.items()
             if log.probe_offset is not None and log.probe != expected.get((p, log.probe_offset))}
    lost: list[str] = []
    for b in batches:
        if b.partition is None or b.offset is None:
            lost.append(b.batch_id)  # no evidence can be gathered: re-send once, as before
            continue
        log = logs.get(b.partition)
        if log is None:
            continue
        if b.partition in reset or not log.start <= b.offset < log.end:
            lost.append(b.batch_id)
    return lost
