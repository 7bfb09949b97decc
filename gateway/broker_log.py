"""Ask the broker what it still holds of the raw topic: log start and end per partition,
and the record at one offset (the evidence ``gateway/loss_evidence.py`` judges)."""

from __future__ import annotations

import asyncio
import contextlib

from aiokafka import AIOKafkaConsumer, TopicPartition

from gateway.loss_evidence import PartitionLog
from stream.kafka.settings import KafkaSettings

PROBE_TIMEOUT_S = 5.0


class BrokerLog:
    """A group-less consumer kept open between checks; reads at most one record per
    partition asked about."""

    def __init__(self, kafka: KafkaSettings) -> None:
        self.kafka = kafka
        self.topic = kafka.topics.raw_readings
        self._consumer: AIOKafkaConsumer | None = None

    async def _ready(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            config = self.kafka.consumer_config(group_id=None)
            config["fetch_max_wait_ms"] = 100
            consumer = AIOKafkaConsumer(**config)
            await consumer.start()
            self._consumer = consumer
        return self._consumer

    async def describe(self, probes: dict[int, int]) -> dict[int, PartitionLog]:
        """The log of each partition in ``probes``, read at its probe offset. Empty while
        the topic does not exist (a broker that restarted empty, before the platform
        re-created it): no decision is taken on a topic this could auto-create."""
        if not probes:
            return {}
        consumer = await self._ready()
        if self.topic not in await consumer.topics():
            return {}
        tps = [TopicPartition(self.topic, p) for p in sorted(probes)]
        starts = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        out: dict[int, PartitionLog] = {}
        for tp in tps:
            offset = probes[tp.partition]
            start, end = starts[tp], ends[tp]
            if start <= offset < end:
                value = await self._read_at(consumer, tp, offset)
                out[tp.partition] = PartitionLog(start, end, offset, value)
            else:  # out of range already says lost; nothing to read
                out[tp.partition] = PartitionLog(start, end)
        return out

    async def _read_at(self, consumer: AIOKafkaConsumer, tp: TopicPartition,
                       offset: int) -> bytes | None:
        consumer.assign([tp])
        consumer.seek(tp, offset)
        message = await asyncio.wait_for(consumer.getone(tp), PROBE_TIMEOUT_S)
        if message.offset != offset:
            return None
        value: bytes | None = message.value
        return value

    async def close(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(consumer.stop(), 5)
