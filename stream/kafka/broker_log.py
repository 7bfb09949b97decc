"""Ask the broker what it still holds of the raw topic: log start and end per partition,
the record at one offset, and how far the stream worker's consumer group has read (the
evidence ``stream/contract/loss_evidence.py`` judges). Used by a gateway uploading to
Kafka itself, and by the ingest service for gateways uploading over HTTPS."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from stream.contract.loss_evidence import (
    AckedBatch,
    PartitionLog,
    Verdict,
    digest,
    judge,
    probe_offsets,
)
from stream.kafka.settings import KafkaSettings

logger = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 5.0


class BrokerLog:
    """A group-less consumer kept open between checks; reads at most one record per
    partition asked about. ``platform_group`` is the stream worker's consumer group, whose
    committed offsets are read (never written: no consumer here joins it)."""

    def __init__(self, kafka: KafkaSettings, platform_group: str | None = None) -> None:
        self.kafka = kafka
        self.topic = kafka.topics.raw_readings
        self.platform_group = platform_group
        self._consumer: AIOKafkaConsumer | None = None
        self._admin: AIOKafkaAdminClient | None = None

    async def _ready(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            config = self.kafka.consumer_config(group_id=None)
            config["fetch_max_wait_ms"] = 100
            consumer = AIOKafkaConsumer(**config)
            await consumer.start()
            self._consumer = consumer
        return self._consumer

    async def judge(self, batches: list[AckedBatch]) -> dict[str, Verdict]:
        """The loss evidence on ``batches``: their partitions' logs, read at the offset of
        each one's first-acknowledged batch, judged; after an error the clients are
        dropped, to reconnect on the next call."""
        try:
            logs = await self.describe(probe_offsets(batches))
        except Exception:
            await self.close()
            raise
        return judge(batches, logs)

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
        committed = await self._committed(tps)
        out: dict[int, PartitionLog] = {}
        for tp in tps:
            offset = probes[tp.partition]
            start, end = starts[tp], ends[tp]
            if start <= offset < end:
                value = await self._read_at(consumer, tp, offset)
                out[tp.partition] = PartitionLog(
                    start, end, offset, None if value is None else digest(value),
                    committed.get(tp.partition))
            else:  # out of range already says lost; nothing to read
                out[tp.partition] = PartitionLog(start, end, committed=committed.get(tp.partition))
        return out

    async def _committed(self, tps: list[TopicPartition]) -> dict[int, int]:
        """The platform group's committed offset per partition; partitions it never
        committed, or an unanswered request, are left out (unknown)."""
        if self.platform_group is None:
            return {}
        try:
            if self._admin is None:
                admin = AIOKafkaAdminClient(**self.kafka.admin_config())
                await admin.start()
                self._admin = admin
            answer = await asyncio.wait_for(
                self._admin.list_consumer_group_offsets(self.platform_group, partitions=tps),
                PROBE_TIMEOUT_S)
        except (KafkaError, OSError, TimeoutError) as exc:
            logger.debug("committed offsets of %s unavailable: %s", self.platform_group, exc)
            await self._close_admin()
            return {}
        return {tp.partition: meta.offset for tp, meta in answer.items() if meta.offset >= 0}

    async def _read_at(self, consumer: AIOKafkaConsumer, tp: TopicPartition,
                       offset: int) -> bytes | None:
        consumer.assign([tp])
        consumer.seek(tp, offset)
        message = await asyncio.wait_for(consumer.getone(tp), PROBE_TIMEOUT_S)
        if message.offset != offset:
            return None
        value: bytes | None = message.value
        return value

    async def _close_admin(self) -> None:
        admin, self._admin = self._admin, None
        if admin is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(admin.close(), 5)

    async def close(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(consumer.stop(), 5)
        await self._close_admin()
