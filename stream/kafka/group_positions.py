"""Where the stream workers' consumer group stands on every partition of some topics,
whoever holds them: its committed offset and the log end, read with a client that does not
join the group. The worker uses it to notice a partition a member holds without
progressing, a member that may be dead (``stream/app.py``)."""

from __future__ import annotations

import asyncio
import contextlib

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from stream.kafka.settings import KafkaSettings

REQUEST_TIMEOUT_S = 10.0


class GroupPositions:
    def __init__(self, kafka: KafkaSettings, group: str) -> None:
        self.kafka = kafka
        self.group = group
        self._consumer: AIOKafkaConsumer | None = None
        self._admin: AIOKafkaAdminClient | None = None

    async def read(self, topics: list[str]) -> dict[tuple[str, int], tuple[int, int]]:
        """(committed offset, log end) per partition of ``topics``; a partition the group
        never committed on counts as committed at 0 (records on it that nobody consumes
        then show as waiting). Started on first use."""
        if self._consumer is None or self._admin is None:
            await self._start()
        assert self._consumer is not None
        assert self._admin is not None
        await self._consumer.topics()  # fresh metadata: partitions_for_topic reads it
        tps = [TopicPartition(t, p) for t in topics
               for p in sorted(self._consumer.partitions_for_topic(t) or ())]
        if not tps:
            return {}
        answer = await asyncio.wait_for(
            self._admin.list_consumer_group_offsets(self.group, partitions=tps),
            REQUEST_TIMEOUT_S)
        committed = {tp: max(0, answer[tp].offset) if tp in answer else 0 for tp in tps}
        ends = await asyncio.wait_for(self._consumer.end_offsets(list(committed)),
                                      REQUEST_TIMEOUT_S)
        return {(tp.topic, tp.partition): (offset, ends.get(tp, offset))
                for tp, offset in committed.items()}

    async def _start(self) -> None:
        consumer = AIOKafkaConsumer(**self.kafka.consumer_config(group_id=None))
        admin = AIOKafkaAdminClient(**self.kafka.admin_config())
        await consumer.start()
        try:
            await admin.start()
        except Exception:
            await consumer.stop()
            raise
        self._consumer, self._admin = consumer, admin

    async def close(self) -> None:
        consumer, admin, self._consumer, self._admin = self._consumer, self._admin, None, None
        with contextlib.suppress(Exception):
            if consumer is not None:
                await consumer.stop()
        with contextlib.suppress(Exception):
            if admin is not None:
                await admin.close()
