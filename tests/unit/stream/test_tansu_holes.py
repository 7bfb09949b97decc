"""When a partition is judged stuck at a hole of the embedded broker (``HoleWatch``)."""

from __future__ import annotations

from aiokafka.structs import TopicPartition

from stream.kafka.tansu_holes import HoleWatch

TP = TopicPartition("readings.raw.v1", 5)


def test_empty_fetches_below_the_high_watermark_for_long_enough_step_over() -> None:
    watch = HoleWatch(stuck_after_s=3.0)
    steps = [watch.step_over(TP, position=8, highwater=838, got_records=False, now=t)
             for t in (0.0, 1.0, 2.9, 3.0)]
    assert steps == [False, False, False, True]
    # Still in the hole at the next offset: one step per empty fetch from now on.
    assert watch.step_over(TP, position=9, highwater=838, got_records=False, now=3.1)


def test_records_or_a_caught_up_position_reset_the_clock() -> None:
    watch = HoleWatch(stuck_after_s=3.0)
    assert not watch.step_over(TP, position=8, highwater=838, got_records=False, now=0.0)
    assert not watch.step_over(TP, position=8, highwater=838, got_records=True, now=5.0)
    assert not watch.step_over(TP, position=9, highwater=838, got_records=False, now=6.0)
    assert not watch.step_over(TP, position=9, highwater=838, got_records=False, now=8.9)
    # At the log end an empty fetch is just an idle partition.
    assert not watch.step_over(TP, position=838, highwater=838, got_records=False, now=20.0)
    assert not watch.step_over(TP, position=838, highwater=None, got_records=False, now=30.0)
