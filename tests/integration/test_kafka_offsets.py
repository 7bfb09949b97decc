"""End offsets and consumer lag are right after multi-record batches (Tansu ListOffsets fix)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError
from aiokafka.protocol.offset import OffsetRequest

from deploy.services.broker import EmbeddedBroker
from stream.kafka.settings import KafkaSettings

pytestmark = pytest.mark.integration

RECORDS_PER_BATCH = 50
BATCHES = 3


async def _create_topic(settings: KafkaSettings, topic: str, partitions: int = 1) -> None:
    admin = AIOKafkaAdminClient(**settings.admin_config())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        await admin.close()


async def _produce_batches(settings: KafkaSettings, topic: str) -> None:
    producer = AIOKafkaProducer(**settings.producer_config())
    await producer.start()
    try:
        for b in range(BATCHES):
            batch = producer.create_batch()
            for i in range(RECORDS_PER_BATCH):
                assert batch.append(key=None, value=f"{b}-{i}".encode(), timestamp=None)
            batch.close()
            fut = await producer.send_batch(batch, topic, partition=0)
            await fut
    finally:
        await producer.stop()


async def test_end_offsets_and_lag_after_multi_record_batches(
    kafka_settings: KafkaSettings, unique_name: str
) -> None:
    topic = unique_name
    await _create_topic(kafka_settings, topic)
    await _produce_batches(kafka_settings, topic)
    total = RECORDS_PER_BATCH * BATCHES
    tp = TopicPartition(topic, 0)

    consumer = AIOKafkaConsumer(**kafka_settings.consumer_config(group_id=unique_name))
    await consumer.start()
    try:
        consumer.assign([tp])
        if kafka_settings.embedded_broker:
            # The defect itself: the broker's own ListOffsets answer is base offset of the
            # newest batch + 1, not the end of the log.
            node = consumer._client.cluster.leader_for_partition(tp)
            raw = await consumer._client.send(node, OffsetRequest(-1, 0, [(topic, [(0, -1)])]))
            listed = raw.topics[0][1][0][-1]
            assert listed == total - RECORDS_PER_BATCH + 1

        assert (await consumer.end_offsets([tp]))[tp] == total

        # Lag for a group that consumed 70 of the 150 records.
        await consumer.seek_to_beginning(tp)
        consumed = 0
        while consumed < 70:
            got = await consumer.getmany(tp, timeout_ms=2000, max_records=70 - consumed)
            consumed += sum(len(v) for v in got.values())
        await consumer.commit({tp: 70})
        end = (await consumer.end_offsets([tp]))[tp]
        committed = await consumer.committed(tp)
        assert end - committed == total - 70

        # seek_to_end lands after the last record, so a new record is the next one read.
        await consumer.seek_to_end(tp)
        assert await consumer.position(tp) == total
    finally:
        await consumer.stop()


async def test_auto_offset_reset_latest_skips_existing_records(
    kafka_settings: KafkaSettings, unique_name: str
) -> None:
    topic = unique_name
    await _create_topic(kafka_settings, topic)
    await _produce_batches(kafka_settings, topic)
    config = kafka_settings.consumer_config(group_id=None)
    config["auto_offset_reset"] = "latest"
    consumer = AIOKafkaConsumer(**config)
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        assert await consumer.position(tp) == RECORDS_PER_BATCH * BATCHES
    finally:
        await consumer.stop()


async def _send_retrying(producer: AIOKafkaProducer, topic: str, value: bytes) -> None:
    """Send to partition 0, retrying while the restarted broker still settles."""
    for _ in range(20):
        try:
            await producer.send_and_wait(topic, value, partition=0)
            return
        except KafkaError:
            await asyncio.sleep(0.25)
    raise AssertionError(f"could not write {value!r} after the broker restart")


async def test_end_offsets_after_ghost_writes_to_a_restarted_memory_broker(
    tmp_path: Path, unique_name: str
) -> None:
    """A producer that outlives a restart of the in-memory broker writes into a topic the
    broker no longer lists; once the topic is created again, the broker's ListOffsets
    counts those records but Fetch never delivers them. The end offset must be what
    Fetch delivers, or Faust's table recovery waits for records that never come."""
    broker = EmbeddedBroker(tmp_path / "broker", storage="memory")
    broker.start()
    try:
        settings = KafkaSettings(bootstrap=broker.bootstrap, embedded_broker=True)
        topic = unique_name
        await _create_topic(settings, topic)
        # A plain client: the platform's producer settings wait 30 s for the restarted
        # broker's first answer, which proves nothing more here.
        producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(topic, b"before", partition=0)
            broker.restart()
            for value in (b"ghost 1", b"ghost 2"):
                await _send_retrying(producer, topic, value)
        finally:
            await producer.stop()
        await _create_topic(settings, topic)

        consumer = AIOKafkaConsumer(**settings.consumer_config(group_id=None))
        await consumer.start()
        try:
            tp = TopicPartition(topic, 0)
            consumer.assign([tp])
            node = consumer._client.cluster.leader_for_partition(tp)
            raw = await consumer._client.send(node, OffsetRequest(-1, 0, [(topic, [(0, -1)])]))
            assert raw.topics[0][1][0][-1] == 2  # the broker's own answer counts the ghosts
            end = (await consumer.end_offsets([tp]))[tp]
            await consumer.seek_to_beginning(tp)
            delivered = await consumer.getmany(tp, timeout_ms=1000)
            assert end == sum(len(v) for v in delivered.values())
        finally:
            await consumer.stop()
    finally:
        broker.stop()
