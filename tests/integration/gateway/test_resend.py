"""After a broker reset: re-sends on evidence only (batches the broker holds are never sent
again however long the platform takes to persist them; batches a broker restart lost are
sent again, once; batches the platform's consumer group read past unstored are sent again,
those it has not reached are not), and watermarks are read on whatever partitions the topic comes back
with."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from deploy.eval.homes import gateway_config
from deploy.services import EmbeddedBroker
from devices.catalog import DeviceType
from gateway.kafka_transport import KafkaTransport
from gateway.spool import PendingItem, Spool
from gateway.uploader import Uploader
from gateway.wallclock import SystemClock
from stream.contract import watermark as watermarks
from stream.contract.status import UploadStatus
from stream.kafka.admin import ensure_topics
from stream.kafka.settings import KafkaSettings
from tests.integration.gateway.harness import read_envelopes
from tests.integration.gateway.test_spool import reading

pytestmark = [pytest.mark.integration]


async def _run_until(uploader: Uploader, done: Callable[[], bool], *, then_s: float,
                     timeout_s: float = 90.0) -> None:
    """Run the uploader until ``done()`` (a busy machine may take a while), then
    ``then_s`` seconds more: the periods in which a re-send could happen."""
    task = asyncio.create_task(uploader.run())
    try:
        async with asyncio.timeout(timeout_s):
            while not done():  # noqa: ASYNC110 (the uploader's status is polled)
                await asyncio.sleep(0.2)
        await asyncio.sleep(then_s)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_resend_only_what_the_broker_lost(tmp_path: Path) -> None:
    broker = EmbeddedBroker(tmp_path / "broker", storage="memory")
    broker.start()
    kafka = KafkaSettings(bootstrap=broker.bootstrap, embedded_broker=True)
    config = gateway_config(7, (DeviceType.SMARTWATCH,), study="TEST", resend_after_s=1.0,
                            batch_max_items=10, batch_linger_ms=0)
    device = config.devices[0].id
    spool = Spool(tmp_path / "spool.sqlite", budget_bytes=50 * 2**20, new_base=0)
    status = UploadStatus()
    uploader = Uploader(config=config, spool=spool, status=status, clock=SystemClock(),
                        transport=KafkaTransport(config=config, kafka=kafka))
    try:
        await ensure_topics(kafka)
        spool.write([PendingItem(device, reading(at=i)) for i in range(50)])
        # No worker: nothing is ever reported persisted. Five resend_after_s periods pass
        # after the last acknowledgement.
        await _run_until(uploader, lambda: status.batches_sent >= 5, then_s=5.0)
        assert status.batches_sent == 5
        assert (status.resends, status.lost_by_broker) == (0, 0)
        assert len(await read_envelopes(kafka, config.gateway_id)) == 5

        await uploader.close()
        await asyncio.to_thread(broker.restart)  # in memory: every record is gone
        await ensure_topics(kafka)
        await _run_until(uploader, lambda: status.resends >= 5, then_s=5.0)
        assert (status.resends, status.lost_by_broker) == (5, 5)
        again = await read_envelopes(kafka, config.gateway_id)
        assert sorted((e.seq_from, e.seq_to) for e in again) == [
            (i, i + 9) for i in range(0, 50, 10)]  # each batch once, byte for byte
    finally:
        await uploader.close()
        spool.close()
        broker.stop()


async def _commit_as_platform(kafka: KafkaSettings, group: str, topic: str, partition: int,
                              offset: int) -> None:
    """Commit ``offset`` for the platform's consumer group, as a worker that read (and
    skipped) everything below it would."""
    consumer = AIOKafkaConsumer(**kafka.consumer_config(group_id=group))
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        await consumer.commit({tp: OffsetAndMetadata(offset, "")})
    finally:
        await consumer.stop()


async def test_resend_what_the_platform_read_past_and_nothing_it_has_not_reached(
        tmp_path: Path) -> None:
    """The worker group committed past two of five batches without storing them (a
    ghost commit): those two are re-sent; the three it has not reached wait, although the
    time-based fallback (1 s here) would have re-sent them were the position unknown."""
    broker = EmbeddedBroker(tmp_path / "broker", storage="memory")
    broker.start()
    kafka = KafkaSettings(bootstrap=broker.bootstrap, embedded_broker=True)
    config = gateway_config(9, (DeviceType.SMARTWATCH,), study="TEST", resend_after_s=1.0,
                            resend_unpersisted_after_s=1.0, batch_max_items=10,
                            batch_linger_ms=0)
    device = config.devices[0].id
    spool = Spool(tmp_path / "spool.sqlite", budget_bytes=50 * 2**20, new_base=0)
    status = UploadStatus()
    uploader = Uploader(config=config, spool=spool, status=status, clock=SystemClock(),
                        transport=KafkaTransport(config=config, kafka=kafka))
    try:
        await ensure_topics(kafka)
        spool.write([PendingItem(device, reading(at=i)) for i in range(50)])
        await uploader.send_due()
        assert status.batches_sent == 5
        acked = spool.overdue_batches(resend_after_s=0.0, now=1e12)
        partition = acked[0].partition
        offsets = sorted(b.offset for b in acked if b.offset is not None)
        assert partition is not None and len(offsets) == 5
        await _commit_as_platform(kafka, config.platform_group, kafka.topics.raw_readings,
                                  partition, offsets[2])
        await _run_until(uploader, lambda: status.skipped_by_platform >= 2, then_s=5.0)
        assert (status.skipped_by_platform, status.resends) == (2, 2)
        assert (status.lost_by_broker, status.resent_unpersisted) == (0, 0)
        again = await read_envelopes(kafka, config.gateway_id)
        assert sorted((e.seq_from, e.seq_to) for e in again) == [
            (0, 9), (0, 9), (10, 19), (10, 19), (20, 29), (30, 39), (40, 49)]
    finally:
        await uploader.close()
        spool.close()
        broker.stop()


async def _send_watermarks(kafka: KafkaSettings, partition: int, key: bytes,
                           marks: list[watermarks.Watermark]) -> None:
    producer = AIOKafkaProducer(**kafka.producer_config())
    await producer.start()
    try:
        for mark in marks:
            await producer.send_and_wait(kafka.topics.watermarks, partition=partition, key=key,
                                         value=watermarks.encode(mark))
    finally:
        await producer.stop()


@pytest.mark.parametrize("partitions_after", [1, 4])
async def test_watermarks_still_arrive_when_the_topic_returns_empty(
        tmp_path: Path, partitions_after: int) -> None:
    """A broker that restarts empty gets its topics back with the same or another partition
    count (whoever creates them first decides), refilled from offset 0, below where the
    gateway was reading (30 other gateways' watermarks had been read). The gateway must read
    every partition the topic has now, from the new log's start, or its spool never
    drains."""
    broker = EmbeddedBroker(tmp_path / "broker", storage="memory")
    broker.start()
    kafka = KafkaSettings(bootstrap=broker.bootstrap, embedded_broker=True)
    config = gateway_config(8, (DeviceType.SMARTWATCH,), study="TEST", batch_linger_ms=0)
    device = config.devices[0].id
    spool = Spool(tmp_path / "spool.sqlite", budget_bytes=50 * 2**20, new_base=0)
    uploader = Uploader(config=config, spool=spool, status=UploadStatus(), clock=SystemClock(),
                        transport=KafkaTransport(config=config, kafka=kafka))
    follower: asyncio.Task[None] | None = None
    try:
        await ensure_topics(kafka, partitions={kafka.topics.watermarks: 1})
        spool.write([PendingItem(device, reading(at=i)) for i in range(20)])
        follower = asyncio.create_task(uploader.follow_watermarks())
        others = [watermarks.Watermark(gateway_id="GW-OTHER", devices={"DEV-X": i},
                                       at=datetime.now(UTC)) for i in range(30)]
        await _send_watermarks(kafka, 0, b"GW-OTHER", others)
        await asyncio.sleep(3.0)  # read up to offset 30 of the one partition there is
        await asyncio.to_thread(broker.restart)
        await ensure_topics(kafka, partitions={kafka.topics.watermarks: partitions_after})
        await _send_watermarks(kafka, partitions_after - 1, config.gateway_id.encode(), [
            watermarks.Watermark(gateway_id=config.gateway_id, devices={device: 19},
                                 at=datetime.now(UTC))])
        async with asyncio.timeout(60):
            while spool.depth().items:  # noqa: ASYNC110 (the spool is polled, not awaited)
                await asyncio.sleep(0.5)
        assert spool.persisted_through(device) == 19
    finally:
        if follower is not None:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follower
        await uploader.close()
        spool.close()
        broker.stop()
