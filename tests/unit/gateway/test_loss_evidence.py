"""The re-send decision: only batches the broker no longer holds are sent again."""

from __future__ import annotations

from gateway.loss_evidence import (
    AckedBatch,
    PartitionLog,
    lost_batches,
    platform_position_unknown,
    probe_offsets,
    skipped_batches,
    stale_batches,
)

BATCHES = [AckedBatch("a", 0, 10, b"A", 1.0), AckedBatch("b", 0, 11, b"B", 2.0),
           AckedBatch("c", 1, 5, b"C", 1.0)]


def test_probes_the_batch_acknowledged_first_per_partition() -> None:
    assert probe_offsets([*BATCHES, AckedBatch("old", None, None, b"")]) == {0: 10, 1: 5}
    # After a restart, new batches get low offsets again: the first acknowledged is the
    # one a restart would have taken with it, whatever its offset.
    after_restart = AckedBatch("new", 0, 2, b"N", 9.0)
    assert probe_offsets([*BATCHES, after_restart]) == {0: 10, 1: 5}


def test_a_batch_lost_before_a_newer_one_at_a_lower_offset_is_found() -> None:
    """Sent before the restart at offset 10; the log refilled past 10 since; a batch sent
    after the restart sits at offset 2. Probing offset 2 would say nothing was lost."""
    lost_one = AckedBatch("before", 0, 10, b"B4", 1.0)
    newer = AckedBatch("after", 0, 2, b"AF", 5.0)
    logs = {0: PartitionLog(0, 40, 10, b"someone else's")}
    assert probe_offsets([lost_one, newer]) == {0: 10}
    assert sorted(lost_batches([lost_one, newer], logs)) == ["after", "before"]


def test_a_slow_platform_is_no_evidence_of_loss() -> None:
    logs = {0: PartitionLog(0, 500, 10, b"A"), 1: PartitionLog(0, 40, 5, b"C")}
    assert lost_batches(BATCHES, logs) == []


def test_an_emptied_or_trimmed_log_loses_what_is_outside_it() -> None:
    logs = {0: PartitionLog(0, 3), 1: PartitionLog(6, 40)}  # restarted empty; retention
    assert lost_batches(BATCHES, logs) == ["a", "b", "c"]


def test_a_refilled_log_is_caught_by_the_record_at_the_offset() -> None:
    logs = {0: PartitionLog(0, 500, 10, b"someone else's"), 1: PartitionLog(0, 40, 5, b"C")}
    assert lost_batches(BATCHES, logs) == ["a", "b"]


def test_no_answer_decides_nothing_and_unknown_offsets_are_resent() -> None:
    legacy = AckedBatch("old", None, None, b"")
    assert lost_batches([*BATCHES, legacy], {}) == ["old"]


def test_a_held_batch_unpersisted_for_long_is_resent_with_backoff_and_a_cap() -> None:
    """A batch the platform skipped (the broker holds it) must still come through, but a
    slow platform must see almost none of it: after 900 s, then 1800 s after that..."""
    fresh = AckedBatch("fresh", 0, 1, b"F", acked_at=1000.0)
    old = AckedBatch("old", 0, 2, b"O", acked_at=0.0, attempts=1)
    resent_once = AckedBatch("again", 0, 3, b"A", acked_at=0.0, attempts=2)
    batches = [fresh, old, resent_once]
    assert stale_batches(batches, now=1000.0, unpersisted_s=900, limit=10) == ["old"]
    assert stale_batches(batches, now=1800.0, unpersisted_s=900, limit=10) == ["old", "again"]
    assert stale_batches(batches, now=1800.0, unpersisted_s=900, limit=1) == ["old"]


def test_a_batch_the_platform_read_past_is_skipped_one_it_has_not_reached_waits() -> None:
    """The worker group committed offset 11 on partition 0: it passed "a" (offset 10)
    without storing it, and has not reached "b" (offset 11) yet, however long ago "b" was
    sent. Partition 1's position is unknown: only the time-based fallback applies there."""
    logs = {0: PartitionLog(0, 500, 10, b"A", committed=11), 1: PartitionLog(0, 40, 5, b"C")}
    assert lost_batches(BATCHES, logs) == []
    assert skipped_batches(BATCHES, logs) == ["a"]
    assert [b.batch_id for b in platform_position_unknown(BATCHES, logs)] == ["c"]


def test_a_frozen_platform_makes_nothing_due_however_long() -> None:
    logs = {0: PartitionLog(0, 500, 10, b"A", committed=3), 1: PartitionLog(0, 40, 5, b"C",
                                                                          committed=5)}
    assert skipped_batches(BATCHES, logs) == []
    assert platform_position_unknown(BATCHES, logs) == []
