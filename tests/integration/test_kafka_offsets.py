"""End offsets and consumer lag are right after multi-record batches (Tansu ListOffsets fix)."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.protocol.offset import OffsetRequest

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
