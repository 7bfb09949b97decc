"""The ingest service's Kafka producer, replaced when it stays stuck: after an in-memory
broker restarted empty, an aiokafka producer was seen answering every send for one subject
with ``UnknownError`` for minutes (its view of the re-created topic stale), while a fresh
producer succeeded at once. Any key whose sends have all failed for ``RESET_AFTER_S`` gets
the service a fresh producer (and every failure asks for fresh metadata first)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from aiokafka import AIOKafkaProducer

from stream.kafka.settings import KafkaSettings

logger = logging.getLogger(__name__)

RESET_AFTER_S = 20.0
STOP_TIMEOUT_S = 10.0


class RecoveringProducer:
    def __init__(self, kafka: KafkaSettings) -> None:
        self.kafka = kafka
        self._producer: AIOKafkaProducer | None = None
        self._failing_since: dict[bytes, float] = {}  # key -> first failure since a success
        self._replacing: asyncio.Task[None] | None = None
        self.replacements = 0

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(**self.kafka.producer_config())
        await self._producer.start()

    async def stop(self) -> None:
        if self._replacing is not None:
            self._replacing.cancel()
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), STOP_TIMEOUT_S)

    async def send(self, topic: str, value: bytes, *, key: bytes) -> asyncio.Future[Any]:
        """Appended to the producer's batch; the returned future resolves to the record's
        metadata once the broker acknowledged it (or raises its error)."""
        producer = self._producer
        if producer is None:
            raise RuntimeError("the producer is not running")
        sent: asyncio.Future[Any] = await producer.send(topic, value, key=key)
        sent.add_done_callback(lambda done: self._note(key, done))
        return sent

    def _note(self, key: bytes, done: asyncio.Future[Any]) -> None:
        if done.cancelled() or done.exception() is None:
            self._failing_since.pop(key, None)
            return
        now = time.monotonic()
        since = self._failing_since.setdefault(key, now)
        if self._producer is not None:
            self._producer.client.force_metadata_update()
        if now - since >= RESET_AFTER_S and self._replacing is None:
            self._replacing = asyncio.create_task(self._replace(key, done.exception()))

    async def _replace(self, key: bytes, error: BaseException | None) -> None:
        try:
            fresh = AIOKafkaProducer(**self.kafka.producer_config())
            try:
                await fresh.start()
            except Exception as exc:  # the broker is away: keep the old one, try later
                logger.warning("could not start a fresh producer: %s", exc)
                with contextlib.suppress(Exception):
                    await fresh.stop()
                return
            old, self._producer = self._producer, fresh
            self._failing_since.clear()
            self.replacements += 1
            logger.warning("every send for key %r failed for %.0f s (last: %r); replaced "
                           "the producer", key, RESET_AFTER_S, error)
            if old is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(old.stop(), STOP_TIMEOUT_S)
        finally:
            self._replacing = None
