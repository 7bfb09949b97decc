"""The re-send decision: only batches the broker lost, or the platform read past
unstored, are sent again; a slow or stopped platform gets nothing extra."""

from __future__ import annotations

import msgspec
import pytest

from stream.contract.loss_evidence import (
    AckedBatch,
    BatchCheck,
    PartitionLog,
    Verdict,
    backed_off,
    digest,
    judge,
    probe_offsets,
)

A, B, C = digest(b"A"), digest(b"B"), digest(b"C")
BATCHES = [AckedBatch("a", 0, 10, A, 1.0), AckedBatch("b", 0, 11, B, 2.0),
           AckedBatch("c", 1, 5, C, 1.0)]
OTHER = digest(b"someone else's")


def lost(verdicts: dict[str, Verdict]) -> list[str]:
    return sorted(k for k, v in verdicts.items() if v is Verdict.LOST)


def test_probes_the_batch_acknowledged_first_per_partition() -> None:
    assert probe_offsets([*BATCHES, AckedBatch("old", None, None, "")]) == {0: 10, 1: 5}
    # After a restart, new batches get low offsets again: the first acknowledged is the
    # one a restart would have taken with it, whatever its offset.
    after_restart = AckedBatch("new", 0, 2, digest(b"N"), 9.0)
    assert probe_offsets([*BATCHES, after_restart]) == {0: 10, 1: 5}


def test_a_batch_lost_before_a_newer_one_at_a_lower_offset_is_found() -> None:
    """Sent before the restart at offset 10; the log refilled past 10 since; a batch sent
    after the restart sits at offset 2. Probing offset 2 would say nothing was lost."""
    lost_one = AckedBatch("before", 0, 10, digest(b"B4"), 1.0)
    newer = AckedBatch("after", 0, 2, digest(b"AF"), 5.0)
    logs = {0: PartitionLog(0, 40, 10, OTHER)}
    assert probe_offsets([lost_one, newer]) == {0: 10}
    assert lost(judge([lost_one, newer], logs)) == ["after", "before"]


def test_a_slow_platform_is_no_evidence_of_loss() -> None:
    logs = {0: PartitionLog(0, 500, 10, A), 1: PartitionLog(0, 40, 5, C)}
    assert set(judge(BATCHES, logs).values()) == {Verdict.UNKNOWN}


def test_an_emptied_or_trimmed_log_loses_what_is_outside_it() -> None:
    logs = {0: PartitionLog(0, 3), 1: PartitionLog(6, 40)}  # restarted empty; retention
    assert lost(judge(BATCHES, logs)) == ["a", "b", "c"]


def test_a_refilled_log_is_caught_by_the_record_at_the_offset() -> None:
    logs = {0: PartitionLog(0, 500, 10, OTHER), 1: PartitionLog(0, 40, 5, C)}
    assert lost(judge(BATCHES, logs)) == ["a", "b"]


def test_no_answer_decides_nothing_and_unknown_offsets_are_resent() -> None:
    legacy = AckedBatch("old", None, None, "")
    assert judge([*BATCHES, legacy], {}) == {
        "a": Verdict.UNANSWERED, "b": Verdict.UNANSWERED, "c": Verdict.UNANSWERED,
        "old": Verdict.LOST}


def test_a_batch_the_platform_read_past_is_skipped_one_it_has_not_reached_waits() -> None:
    """The worker group committed offset 11 on partition 0: it passed "a" (offset 10)
    without storing it, and has not reached "b" (offset 11) yet, however long ago "b" was
    sent. Partition 1's position is unknown."""
    logs = {0: PartitionLog(0, 500, 10, A, committed=11), 1: PartitionLog(0, 40, 5, C)}
    assert judge(BATCHES, logs) == {"a": Verdict.SKIPPED, "b": Verdict.WAITING,
                                    "c": Verdict.UNKNOWN}


def test_a_frozen_platform_makes_every_batch_wait() -> None:
    logs = {0: PartitionLog(0, 500, 10, A, committed=3),
            1: PartitionLog(0, 40, 5, C, committed=5)}
    assert set(judge(BATCHES, logs).values()) == {Verdict.WAITING}


def test_resends_back_off_and_are_capped() -> None:
    """A batch re-sent for want of evidence must still come through, but rarely: after
    900 s, then 1800 s after that..."""
    fresh = AckedBatch("fresh", 0, 1, A, acked_at=1000.0)
    old = AckedBatch("old", 0, 2, B, acked_at=0.0, attempts=1)
    resent_once = AckedBatch("again", 0, 3, C, acked_at=0.0, attempts=2)
    batches = [fresh, old, resent_once]
    assert backed_off(batches, now=1000.0, base_s=900, limit=10) == ["old"]
    assert backed_off(batches, now=1800.0, base_s=900, limit=10) == ["old", "again"]
    assert backed_off(batches, now=1800.0, base_s=900, limit=1) == ["old"]


def test_a_check_request_is_range_checked() -> None:
    good = {"batch_id": "x", "partition": 0, "offset": 1, "digest": A, "acked_at": 1.0}
    assert msgspec.json.decode(msgspec.json.encode({"batches": [good]}), type=BatchCheck)
    for bad in ({**good, "offset": -1}, {**good, "digest": "zz"}, {**good, "partition": 2**31},
                {**good, "extra": 1}):
        with pytest.raises(msgspec.ValidationError):
            msgspec.json.decode(msgspec.json.encode({"batches": [bad]}), type=BatchCheck)
