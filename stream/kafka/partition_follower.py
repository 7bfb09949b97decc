"""Read every partition of a topic, including partitions it gains while being read.

A broker that restarted empty (or an operator adding partitions) can bring a topic back
with more partitions; a consumer assigned once would never read those. One that came back
with as many partitions is refilled from offset 0, below where the reader stands; a
position past a log's end is moved to its start (``stream/kafka/ghost_offsets.py``). Both
readers of
the watermarks topic use this: a Kafka-direct gateway (its own watermarks) and the
ingest service (everyone's, for gateways on HTTPS).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import ConsumerRecord

from stream.kafka.ghost_offsets import rewind_ghost_positions

OnAssign = Callable[[list[TopicPartition]], Awaitable[None]]
"""Called with the partitions each time the assignment grows (e.g. to seek)."""


async def follow_partitions(consumer: AIOKafkaConsumer, topic: str, *, check_every_s: float,
                            on_assign: OnAssign | None = None,
                            ) -> AsyncIterator[list[ConsumerRecord[bytes, bytes]]]:
    """Yield each fetch (possibly empty) from every partition of ``topic``, looking the
    partitions up again every ``check_every_s`` (every second while there are none: the
    topic may not exist yet), and rewinding positions past a log's end. Runs until the
    caller stops or the consumer raises."""
    assigned: set[int] = set()
    next_check = 0.0
    while True:
        if time.monotonic() >= next_check:
            partitions = consumer.partitions_for_topic(topic) or set()
            tps = [TopicPartition(topic, p) for p in sorted(partitions)]
            if partitions and partitions != assigned:
                consumer.assign(tps)
                assigned = set(partitions)
                if on_assign is not None:
                    await on_assign(tps)
            elif assigned:
                await rewind_ghost_positions(consumer, tps)
            next_check = time.monotonic() + (check_every_s if assigned else 1.0)
        if not assigned:
            await asyncio.sleep(1.0)
            continue
        fetched = await consumer.getmany(timeout_ms=1000)
        yield [m for records in fetched.values() for m in records]
