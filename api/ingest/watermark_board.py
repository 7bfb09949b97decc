"""The latest persisted watermark of every gateway, read once by the ingest service from
the (compacted) watermarks topic, so each gateway is told only its own: its download no
longer grows with the number of homes (issue 15).

Watermarks are cumulative per device; the board keeps the highest sequence seen per
(gateway, device). :meth:`WatermarkBoard.wait` lets a gateway long-poll for a change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from stream.contract import watermark as watermarks
from stream.kafka.partition_follower import follow_partitions
from stream.kafka.settings import KafkaSettings

logger = logging.getLogger(__name__)

PARTITIONS_CHECK_S = 10.0  # a topic re-created with more partitions is still read
RETRY_S = 2.0


@dataclass(slots=True)
class GatewayMarks:
    devices: dict[str, int] = field(default_factory=dict)
    version: int = 0  # bumped on every change, for long-polls
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class WatermarkBoard:
    def __init__(self, kafka: KafkaSettings) -> None:
        self.kafka = kafka
        self._marks: dict[str, GatewayMarks] = {}
        self.caught_up = asyncio.Event()  # read up to the end offsets seen at start
        self.messages = 0

    # -- reading ------------------------------------------------------------------------

    def latest(self, gateway_id: str) -> tuple[dict[str, int], int]:
        """(device → persisted-through sequence, version) of one gateway."""
        marks = self._marks.get(gateway_id)
        return ({}, 0) if marks is None else (dict(marks.devices), marks.version)

    async def wait(self, gateway_id: str, *, newer_than: int,
                   timeout_s: float) -> tuple[dict[str, int], int]:
        """The gateway's watermarks once their version passes ``newer_than``, or as they
        are after ``timeout_s``."""
        marks = self._marks.setdefault(gateway_id, GatewayMarks())
        deadline = time.monotonic() + timeout_s
        while marks.version <= newer_than:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(marks.changed.wait(), left)
        return dict(marks.devices), marks.version

    # -- writing ------------------------------------------------------------------------

    def apply(self, message: watermarks.Watermark) -> bool:
        """Merge one watermark message; True if any device moved forward."""
        marks = self._marks.setdefault(message.gateway_id, GatewayMarks())
        moved = False
        for device, seq in message.devices.items():
            if seq > marks.devices.get(device, -1):
                marks.devices[device] = seq
                moved = True
        if moved:
            marks.version += 1
            marks.changed.set()
            marks.changed = asyncio.Event()  # waiters of the next change wait afresh
        return moved

    async def run(self) -> None:
        """Follow the topic for ever, reconnecting after broker errors."""
        while True:
            try:
                await self._follow()
            except (KafkaError, OSError) as exc:
                logger.warning("watermark board: %s; reconnecting", exc)
                await asyncio.sleep(RETRY_S)

    async def _follow(self) -> None:
        topic = self.kafka.topics.watermarks
        config = self.kafka.consumer_config(group_id=None)
        config["fetch_max_wait_ms"] = 200
        config["metadata_max_age_ms"] = int(PARTITIONS_CHECK_S * 1000)
        consumer = AIOKafkaConsumer(**config)
        await consumer.start()
        ends: dict[TopicPartition, int] = {}

        async def from_the_start(tps: list[TopicPartition]) -> None:
            await consumer.seek_to_beginning(*tps)
            if not self.caught_up.is_set():
                ends.update(await consumer.end_offsets(tps))

        try:
            async for messages in follow_partitions(consumer, topic,
                                                    check_every_s=PARTITIONS_CHECK_S,
                                                    on_assign=from_the_start):
                for message in messages:
                    self._apply_raw(message.value)
                if not self.caught_up.is_set() and await _reached(consumer, ends):
                    self.caught_up.set()
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(consumer.stop(), 5)

    def _apply_raw(self, value: bytes | None) -> None:
        if value is None:  # a compaction tombstone
            return
        self.messages += 1
        mark = watermarks.decode_or_none(value)
        if mark is not None:
            self.apply(mark)


async def _reached(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return False
    return True
