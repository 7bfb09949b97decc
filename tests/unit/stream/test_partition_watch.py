"""Stalled-partition detection: lag waiting and no committed progress for long enough."""

from __future__ import annotations

from stream.partition_watch import PartitionWatch, RebalanceWatch

RAW0, RAW1 = ("raw", 0), ("raw", 1)


def test_a_partition_stuck_while_another_drains_is_stalled() -> None:
    watch = PartitionWatch(stall_after_s=60, paused_after_s=1000)
    assert watch.observe(0, {RAW0: (100, 5), RAW1: (50, 5)}) == {}
    assert watch.observe(30, {RAW0: (100, 40), RAW1: (80, 2)}) == {}
    assert watch.observe(61, {RAW0: (100, 90), RAW1: (95, 0)}) == {RAW0: 61}


def test_progress_an_empty_partition_or_a_database_outage_is_not_a_stall() -> None:
    watch = PartitionWatch(stall_after_s=60, paused_after_s=1000)
    watch.observe(0, {RAW0: (100, 5), RAW1: (7, 0)})
    assert watch.observe(50, {RAW0: (101, 5), RAW1: (7, 0)}) == {}  # moved
    assert watch.observe(200, {RAW0: (101, 5), RAW1: (7, 0)}, database_down=True) == {}
    assert watch.observe(250, {RAW0: (101, 5), RAW1: (7, 0)}) == {}  # outage just ended
    assert watch.observe(261, {RAW0: (101, 5), RAW1: (7, 0)}) == {RAW0: 61}


def test_a_partition_revoked_and_assigned_again_starts_afresh() -> None:
    watch = PartitionWatch(stall_after_s=60, paused_after_s=1000)
    watch.observe(0, {RAW0: (100, 5)})
    watch.observe(30, {})
    assert watch.observe(70, {RAW0: (100, 5)}) == {}


def test_time_the_worker_itself_was_stopped_is_not_a_stall() -> None:
    """SIGSTOPped for 10 minutes, the worker sees no progress over 600 s when it resumes:
    that is its own pause, not a stalled partition (it restarted itself for nothing)."""
    watch = PartitionWatch(stall_after_s=60)  # sampled every 5 s, as the worker does
    for t in range(0, 30, 5):
        assert watch.observe(t, {RAW0: (100, 5)}) == {}
    assert watch.observe(625, {RAW0: (100, 900)}) == {}  # resumed: a fresh start
    for t in range(630, 685, 5):
        assert watch.observe(t, {RAW0: (100, 900)}) == {}
    assert watch.observe(685, {RAW0: (100, 900)}) == {RAW0: 60}  # a real stall still counts


def test_a_rebalance_that_never_ends_is_noticed_once_over_the_limit() -> None:
    watch = RebalanceWatch(stuck_after_s=45)
    assert [watch.observe(t, True) for t in range(0, 45, 5)] == [None] * 9
    assert watch.observe(45, True) == 45
    assert watch.observe(50, False) is None  # it ended: the clock starts again next time
    assert [watch.observe(t, True) for t in range(55, 100, 5)] == [None] * 9


def test_rebalances_that_end_and_a_stopped_worker_are_not_stuck() -> None:
    watch = RebalanceWatch(stuck_after_s=45)
    for t in range(0, 300, 5):  # rebalancing 20 s of every 30 s: never 45 s in a row
        assert watch.observe(t, t % 30 < 20) is None
    watch = RebalanceWatch(stuck_after_s=45)
    assert watch.observe(0, True) is None
    assert watch.observe(600, True) is None  # SIGSTOPped in between: start afresh
    assert watch.observe(640, True) is None
