"""Rewind a consumer group's "ghost" commits before the stream worker joins it.

A broker that restarts empty (the embedded in-memory broker) keeps no data, topics or
group offsets; a worker still running at that instant can commit its old positions into
the new broker before it notices and exits. Its successor would then start reading past
the end of the refilled log and skip everything below that offset, while the gateways'
re-sends land there (seen in ``trialwire eval chaos``: spools that never drained). Kafka
itself answers a fetch past the log end with OFFSET_OUT_OF_RANGE and the consumer resets;
the embedded broker just returns nothing. So, before joining: a committed offset past a
partition's log end cannot be a position in this log, and is rewound to the log start
(the sink is idempotent: anything read twice is stored once).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import OffsetAndMetadata

from stream.kafka.settings import KafkaSettings

logger = logging.getLogger(__name__)

REQUEST_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Rewind:
    """A ghost commit found on one partition, and where it was moved."""

    topic: str
    partition: int
    committed: int
    log_end: int
    rewound_to: int


def ghost_commits(committed: dict[TopicPartition, int], starts: dict[TopicPartition, int],
                  ends: dict[TopicPartition, int]) -> list[Rewind]:
    """The partitions whose committed offset lies past the log end, each rewound to its log
    start. Partitions without a commit, or without a known end, are left alone. Pure."""
    out = []
    for tp, offset in sorted(committed.items()):
        end = ends.get(tp)
        if end is not None and offset > end:
            out.append(Rewind(tp.topic, tp.partition, offset, end, starts.get(tp, 0)))
    return out


async def rewind_ghost_commits(kafka: KafkaSettings, group: str,
                               topics: list[str]) -> list[Rewind]:
    """Find ``group``'s ghost commits on ``topics`` and commit the log start in their place.

    Run while no member of ``group`` is consuming (before the worker starts): the commit is
    made by a consumer that does not join the group."""
    consumer = AIOKafkaConsumer(**kafka.consumer_config(group_id=group))
    admin = AIOKafkaAdminClient(**kafka.admin_config())
    await consumer.start()
    try:
        await admin.start()
        await consumer.topics()  # fills the client's metadata: partitions_for_topic needs it
        tps = [TopicPartition(t, p) for t in topics
               for p in sorted(consumer.partitions_for_topic(t) or ())]
        if not tps:
            return []
        answer = await asyncio.wait_for(
            admin.list_consumer_group_offsets(group, partitions=tps), REQUEST_TIMEOUT_S)
        committed = {tp: meta.offset for tp, meta in answer.items() if meta.offset >= 0}
        if not committed:
            return []
        known = sorted(committed)
        starts = await consumer.beginning_offsets(known)
        ends = await consumer.end_offsets(known)
        rewinds = ghost_commits(committed, starts, ends)
        if rewinds:
            consumer.assign([TopicPartition(r.topic, r.partition) for r in rewinds])
            await consumer.commit({TopicPartition(r.topic, r.partition):
                                   OffsetAndMetadata(r.rewound_to, "") for r in rewinds})
            for r in rewinds:
                logger.warning("group %s had committed %s[%d] at %d, past the log end %d (the "
                               "broker lost its data); rewound to %d", group, r.topic,
                               r.partition, r.committed, r.log_end, r.rewound_to)
        return rewinds
    finally:
        await consumer.stop()
        await admin.close()
