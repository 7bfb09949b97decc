"""Kafka-direct upload, for a site hub inside the platform's network: batches produced to
the raw topic with acks=all, watermarks read from the watermarks topic (filtered by this
gateway's key), status to the status topic, overdue batches judged from the broker's log
(``stream/kafka/broker_log.py``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError

from gateway.spool import Batch
from gateway.transport import Placed
from stream.contract import status as status_codec
from stream.contract import watermark as watermarks
from stream.contract.gateway_config import GatewayConfig
from stream.contract.loss_evidence import AckedBatch, Verdict
from stream.contract.status import GatewayStatus
from stream.kafka.broker_log import BrokerLog
from stream.kafka.partition_follower import follow_partitions
from stream.kafka.settings import KafkaSettings

logger = logging.getLogger(__name__)

SEND_TIMEOUT_S = 60.0
ACK_STALL_S = 3.0
WATERMARK_PARTITIONS_CHECK_S = 10.0
STATUS_TIMEOUT_S = 10.0

StallReport = Callable[[float], None]
"""Told the seconds waited so far while the broker does not acknowledge."""


class KafkaTransport:
    def __init__(self, *, config: GatewayConfig, kafka: KafkaSettings,
                 on_stall: StallReport | None = None) -> None:
        self.config = config
        self.kafka = kafka
        self.on_stall = on_stall
        self._producer: AIOKafkaProducer | None = None
        self._broker_log = BrokerLog(kafka, config.platform_group)

    async def _producer_ready(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(**self.kafka.producer_config())
            await producer.start()
            self._producer = producer
        return self._producer

    async def send(self, batches: list[Batch]) -> AsyncIterator[tuple[Batch, Placed]]:
        """Produce every batch, then yield each as the broker acknowledges it (in order)."""
        try:
            producer = await self._producer_ready()
            pending: list[tuple[Batch, asyncio.Future[object]]] = []
            for batch in batches:
                future = await producer.send(self.kafka.topics.raw_readings, batch.envelope,
                                             key=self.config.subject.encode())
                pending.append((batch, future))
            for batch, future in pending:
                metadata = await self._await_ack(future)
                yield batch, Placed(getattr(metadata, "partition", None),
                                    getattr(metadata, "offset", None))
        except (KafkaError, TimeoutError, OSError):
            await self._reset()
            raise

    async def _await_ack(self, future: asyncio.Future[object]) -> object:
        """Wait for an acknowledgement (the record's metadata), reporting a broker silent
        for ACK_STALL_S; give up after SEND_TIMEOUT_S."""
        waited = 0.0
        while True:
            done, _ = await asyncio.wait({future}, timeout=ACK_STALL_S)
            if done:
                return future.result()  # raises the producer's error, if any
            waited += ACK_STALL_S
            if self.on_stall is not None:
                self.on_stall(waited)
            if waited >= SEND_TIMEOUT_S:
                raise TimeoutError(f"no acknowledgement from the broker in {waited:.0f} s")

    async def judge(self, overdue: list[AckedBatch]) -> dict[str, Verdict]:
        return await self._broker_log.judge(overdue)

    async def persisted(self) -> AsyncIterator[dict[str, int]]:
        """One consumer session over every partition of the watermarks topic (partitions
        it gains included, ``stream/kafka/partition_follower.py``), yielding this gateway's
        watermarks, until an error."""
        key = self.config.gateway_id.encode()
        topic = self.kafka.topics.watermarks
        config = self.kafka.consumer_config(group_id=f"gateway-{self.config.gateway_id}-wm")
        config["fetch_max_wait_ms"] = 1000  # watermarks are not urgent: poll gently
        # The client's own view of the partitions, refreshed this often (not every 5 min).
        config["metadata_max_age_ms"] = int(WATERMARK_PARTITIONS_CHECK_S * 1000)
        consumer = AIOKafkaConsumer(**config)
        try:
            await consumer.start()
            async for messages in follow_partitions(
                    consumer, topic, check_every_s=WATERMARK_PARTITIONS_CHECK_S):
                for message in messages:
                    if message.key == key:
                        mark = watermarks.decode_or_none(message.value)
                        if mark is not None:
                            yield mark.devices
                if messages:
                    with contextlib.suppress(KafkaError):
                        await consumer.commit()
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()

    async def publish_status(self, status: GatewayStatus) -> str | None:
        try:
            producer = await self._producer_ready()
            await asyncio.wait_for(producer.send_and_wait(
                self.kafka.topics.status, status_codec.encode(status),
                key=self.config.gateway_id.encode()), STATUS_TIMEOUT_S)
        except (KafkaError, TimeoutError, OSError):
            await self._reset()
            raise
        return None  # a site hub inside the platform hears of no lifecycle here

    async def _reset(self) -> None:
        """Drop the clients after a broker error; the next call connects afresh."""
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), 5)
        await self._broker_log.close()

    async def close(self) -> None:
        await self._reset()
