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
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

from stream.kafka.settings import KafkaSettings

logger = logging.getLogger(__name__)

REQUEST_TIMEOUT_S = 10.0
FETCH_PROBE_S = 10.0  # a fetch from a committed offset with records after it answers at once
COMMIT_RETRY_S = 45.0  # a departed member's session (10 s) and the rebalance after it


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


def unfetchable(committed: dict[TopicPartition, int], ends: dict[TopicPartition, int],
                first_fetched: dict[TopicPartition, int | None]) -> list[Rewind]:
    """The partitions whose log lists records past the committed offset that a fetch from
    it does not deliver (``first_fetched`` None: nothing came back), each moved to the log
    end. Pure.

    The embedded broker, written to by clients with stale metadata just after it restarted
    empty, can list "ghost" records that no fetch ever returns: a worker there waits for
    ever (ready, consuming nothing). Skipping them is safe: a batch the group passed
    without storing it is judged ``skipped`` by its gateway and sent again
    (``stream/contract/loss_evidence.py``)."""
    out = []
    for tp, offset in sorted(committed.items()):
        end = ends.get(tp)
        if end is not None and offset < end and tp in first_fetched and first_fetched[tp] is None:
            out.append(Rewind(tp.topic, tp.partition, offset, end, end))
    return out


async def rewind_ghost_commits(kafka: KafkaSettings, group: str,
                               topics: list[str]) -> list[Rewind]:
    """Repair ``group``'s committed offsets on ``topics`` before the stream worker joins it:
    a commit past a log end goes back to the log start (:func:`past_log_end`), one before
    records no fetch delivers goes to the log end (:func:`unfetchable`).

    Committed by a consumer that does not join the group; a predecessor that exited without
    leaving is still a member until its session times out, so the commit is retried for a
    while, then given up with a warning (the worker starts as it would have)."""
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
        behind = [tp for tp in known if committed[tp] < ends.get(tp, 0)]
        rewinds += unfetchable(committed, ends,
                               await _first_fetched(consumer, behind, committed))
        if rewinds:
            await _commit(consumer, group, rewinds)
        return rewinds
    finally:
        await consumer.stop()
        await admin.close()


async def _first_fetched(consumer: AIOKafkaConsumer, tps: list[TopicPartition],
                         offsets: dict[TopicPartition, int]) -> dict[TopicPartition, int | None]:
    """The offset of the first record a fetch from ``offsets`` returns, per partition (None:
    nothing within FETCH_PROBE_S)."""
    if not tps:
        return {}
    consumer.assign(tps)
    for tp in tps:
        consumer.seek(tp, offsets[tp])
    first: dict[TopicPartition, int | None] = dict.fromkeys(tps)
    deadline = asyncio.get_running_loop().time() + FETCH_PROBE_S
    while any(v is None for v in first.values()):
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            break
        fetched = await consumer.getmany(*[tp for tp, v in first.items() if v is None],
                                         timeout_ms=int(min(left, 1.0) * 1000), max_records=1)
        for tp, records in fetched.items():
            if records:
                first[tp] = records[0].offset
    return first


async def _commit(consumer: AIOKafkaConsumer, group: str, rewinds: list[Rewind]) -> None:
    consumer.assign([TopicPartition(r.topic, r.partition) for r in rewinds])
    offsets = {TopicPartition(r.topic, r.partition): OffsetAndMetadata(r.rewound_to, "")
               for r in rewinds}
    deadline = asyncio.get_running_loop().time() + COMMIT_RETRY_S
    while True:
        try:
            await consumer.commit(offsets)
            break
        except KafkaError as exc:
            if asyncio.get_running_loop().time() >= deadline:
                logger.error("could not repair group %s's offsets (%s); starting as they are",
                             group, exc)
                return
            await asyncio.sleep(2.0)
    for r in rewinds:
        logger.warning("group %s: %s[%d] committed at %d, log end %d (a broker that lost its "
                       "data); moved to %d", group, r.topic, r.partition, r.offset,
                       r.log_end, r.rewound_to)


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
