"""Decide which acknowledged but unpersisted batches the broker no longer holds.

A gateway re-sends a batch only on evidence that the broker lost it, never because the
platform is slow: re-sending to a worker that is merely behind multiplies the load that
made it slow (issue 14). Evidence, per batch acknowledged at (partition, offset):

- the partition's log now starts after the offset (retention deleted it unread), or ends
  at or before it (the broker restarted empty, or was replaced);
- the record now at that offset is not the batch's envelope (the broker restarted empty
  and other records have since filled the log past the offset). One record is read per
  partition: that of the batch acknowledged first. A broker that restarted empty after
  that acknowledgement lost it too, so if it is still there, no batch acknowledged later
  was lost to a restart either. (The lowest offset would not do: batches sent after a
  restart have lower offsets than those it lost.)

A batch the broker holds can still go unpersisted for ever if the platform skipped it (a
consumer group whose committed offsets moved past it, as a worker's last commit into a
broker that had just restarted empty can do). The stream worker's consumer group tells
which (:func:`skipped_batches`): a batch below the group's committed offset was read and
passed over, and is re-sent; one at or above it waits for a platform that has not got
there yet, however long that takes (a frozen worker gets nothing extra). Only when the
group's offset cannot be learnt is a held batch re-sent on time alone: after
``unpersisted_s``, then twice that, and so on (:func:`stale_batches`).

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
    acked_at: float = 0.0  # epoch seconds of the (latest) acknowledgement
    attempts: int = 1  # sends so far


@dataclass(frozen=True, slots=True)
class PartitionLog:
    """What the broker holds of one partition now; ``probe`` is the value at one offset
    (None: nothing there); ``committed`` is the stream worker group's next offset to read
    (None: unknown, or the group never committed on this partition)."""

    start: int
    end: int
    probe_offset: int | None = None
    probe: bytes | None = None
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


def skipped_batches(batches: list[AckedBatch], logs: dict[int, PartitionLog]) -> list[str]:
    """Held batches the platform's consumer group has already read past (committed beyond
    their offset) without persisting them."""
    skipped: list[str] = []
    for b in batches:
        log = logs.get(b.partition) if b.partition is not None else None
        if log is not None and log.committed is not None and b.offset is not None \
                and b.offset < log.committed:
            skipped.append(b.batch_id)
    return skipped


def platform_position_unknown(batches: list[AckedBatch],
                              logs: dict[int, PartitionLog]) -> list[AckedBatch]:
    """Held batches on partitions where the group's committed offset is unknown."""
    return [b for b in batches
            if b.partition is not None and b.partition in logs
            and logs[b.partition].committed is None]


def stale_batches(batches: list[AckedBatch], *, now: float, unpersisted_s: float,
                  limit: int, max_wait_s: float = 6 * 3600.0) -> list[str]:
    """Batches held by the broker but unpersisted for ``unpersisted_s`` · 2^(sends−1)
    (capped at ``max_wait_s``) since their last send: at most ``limit``, oldest first."""
    due = [b for b in batches
           if now - b.acked_at >= min(unpersisted_s * 2 ** max(b.attempts - 1, 0), max_wait_s)]
    due.sort(key=lambda b: b.acked_at)
    return [b.batch_id for b in due[:limit]]
