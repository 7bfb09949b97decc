"""Stalled-partition detection: lag waiting and no committed progress for long enough."""

from __future__ import annotations

from stream.partition_watch import PartitionWatch

RAW0, RAW1 = ("raw", 0), ("raw", 1)


def test_a_partition_stuck_while_another_drains_is_stalled() -> None:
    watch = PartitionWatch(stall_after_s=60)
    assert watch.observe(0, {RAW0: (100, 5), RAW1: (50, 5)}) == {}
    assert watch.observe(30, {RAW0: (100, 40), RAW1: (80, 2)}) == {}
    assert watch.observe(61, {RAW0: (100, 90), RAW1: (95, 0)}) == {RAW0: 61}


def test_progress_an_empty_partition_or_a_database_outage_is_not_a_stall() -> None:
    watch = PartitionWatch(stall_after_s=60)
    watch.observe(0, {RAW0: (100, 5), RAW1: (7, 0)})
    assert watch.observe(50, {RAW0: (101, 5), RAW1: (7, 0)}) == {}  # moved
    assert watch.observe(200, {RAW0: (101, 5), RAW1: (7, 0)}, database_down=True) == {}
    assert watch.observe(250, {RAW0: (101, 5), RAW1: (7, 0)}) == {}  # outage just ended
    assert watch.observe(261, {RAW0: (101, 5), RAW1: (7, 0)}) == {RAW0: 61}


def test_a_partition_revoked_and_assigned_again_starts_afresh() -> None:
    watch = PartitionWatch(stall_after_s=60)
    watch.observe(0, {RAW0: (100, 5)})
    watch.observe(30, {})
    assert watch.observe(70, {RAW0: (100, 5)}) == {}
