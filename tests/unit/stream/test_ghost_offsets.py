"""Which committed offsets are ghosts of a broker that lost its data (``past_log_end``)."""

from __future__ import annotations

from aiokafka import TopicPartition

from stream.kafka.ghost_offsets import Rewind, past_log_end, unfetchable

RAW = "readings.raw.v1"


def tp(partition: int) -> TopicPartition:
    return TopicPartition(RAW, partition)


def test_a_commit_past_the_log_end_is_rewound_to_the_log_start() -> None:
    rewinds = past_log_end({tp(0): 5000, tp(1): 12}, starts={tp(0): 0, tp(1): 0},
                            ends={tp(0): 40, tp(1): 12})
    assert rewinds == [Rewind(RAW, 0, offset=5000, log_end=40, rewound_to=0)]


def test_commits_within_the_log_and_at_its_end_stand() -> None:
    assert past_log_end({tp(0): 0, tp(1): 7, tp(2): 9}, starts={tp(0): 0, tp(1): 3, tp(2): 0},
                         ends={tp(0): 0, tp(1): 10, tp(2): 9}) == []


def test_a_partition_with_no_known_end_is_left_alone() -> None:
    assert past_log_end({tp(0): 99}, starts={}, ends={}) == []


def test_the_rewind_goes_to_the_log_start_not_to_zero() -> None:
    [rewind] = past_log_end({tp(3): 900}, starts={tp(3): 120}, ends={tp(3): 150})
    assert rewind.rewound_to == 120


def test_listed_records_no_fetch_delivers_are_skipped_to_the_log_end() -> None:
    rewinds = unfetchable({tp(0): 8, tp(1): 5, tp(2): 9}, ends={tp(0): 838, tp(1): 40, tp(2): 9},
                          first_fetched={tp(0): None, tp(1): 5})
    assert rewinds == [Rewind(RAW, 0, offset=8, log_end=838, rewound_to=838)]


def test_a_gap_before_deliverable_records_is_not_a_ghost() -> None:
    # Kafka logs may have gaps (compaction, transaction markers): the fetch skips them.
    assert unfetchable({tp(0): 8}, ends={tp(0): 100}, first_fetched={tp(0): 12}) == []
