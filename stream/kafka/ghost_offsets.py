"""Offsets past a partition's log end: "ghosts" of a broker that lost its data.

A broker that restarts empty (the embedded in-memory broker) keeps no data, topics or
group offsets, but its clients keep theirs. A worker still running at that instant can
commit its old positions into the new broker before it notices and exits; its successor
would then start past the end of the refilled log and skip everything below that offset,
where the gateways' re-sends land. A consumer that stays up (a gateway's or the ingest
service's watermark reader) goes on fetching from its old position and never sees the new
records. Both were seen in ``trialwire eval chaos``: spools that never drained. Kafka
answers a fetch past the log end with OFFSET_OUT_OF_RANGE and the consumer resets; the
embedded broker answers nothing. So an offset past a partition's log end cannot be a
position in this log and is moved to the log start (:func:`past_log_end`; what is read
twice is harmless: the sink is idempotent, watermarks only move forward).
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
    """A ghost offset found on one partition, and where it was moved."""

    topic: str
    partition: int
    offset: int
    log_end: int
    rewound_to: int


def past_log_end(offsets: dict[TopicPartition, int], starts: dict[TopicPartition, int],
                 ends: dict[TopicPartition, int]) -> list[Rewind]:
    """The partitions whose offset (committed, or a consumer's position) lies past the log
    end, each rewound to its log start. Partitions without a known end are left alone. Pure."""
    out = []
    for tp, offset in sorted(offsets.items()):
        end = ends.get(tp)
        if end is not None and offset > end:
            out.append(Rewind(tp.topic, tp.partition, offset, end, starts.get(tp, 0)))
    return out


async def rewind_ghost_commits(kafka: KafkaSettings, group: str,
                               topics: list[str]) -> list[Rewind]:
    """Find ``group``'s commits past a log end on ``topics`` and commit the log start in
    their place (the stream worker, before it joins its group).

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
        rewinds = past_log_end(committed, starts, ends)
        if rewinds:
            consumer.assign([TopicPartition(r.topic, r.partition) for r in rewinds])
            await consumer.commit({TopicPartition(r.topic, r.partition):
                                   OffsetAndMetadata(r.rewound_to, "") for r in rewinds})
            for r in rewinds:
                logger.warning("group %s had committed %s[%d] at %d, past the log end %d (the "
                               "broker lost its data); rewound to %d", group, r.topic,
                               r.partition, r.offset, r.log_end, r.rewound_to)
        return rewinds
    finally:
        await consumer.stop()
        await admin.close()


async def rewind_ghost_positions(consumer: AIOKafkaConsumer,
                                 tps: list[TopicPartition]) -> list[Rewind]:
    """Seek every partition of ``tps`` whose position lies past its log end to the log start
    (a long-lived reader, after its broker restarted empty)."""
    positions = {tp: await consumer.position(tp) for tp in tps}
    rewinds = past_log_end(positions, await consumer.beginning_offsets(tps),
                           await consumer.end_offsets(tps))
    for r in rewinds:
        consumer.seek(TopicPartition(r.topic, r.partition), r.rewound_to)
        logger.warning("reading %s[%d] at %d, past the log end %d (the broker lost its data); "
                       "reading again from %d", r.topic, r.partition, r.offset, r.log_end,
                       r.rewound_to)
    return rewinds
