"""The re-send decision: only batches the broker no longer holds are sent again."""

from __future__ import annotations

from gateway.loss_evidence import AckedBatch, PartitionLog, lost_batches, probe_offsets

BATCHES = [AckedBatch("a", 0, 10, b"A"), AckedBatch("b", 0, 11, b"B"),
           AckedBatch("c", 1, 5, b"C")]


def test_probes_the_lowest_offset_per_partition() -> None:
    assert probe_offsets([*BATCHES, AckedBatch("old", None, None, b"")]) == {0: 10, 1: 5}


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
