"""A producer written with another library (confluent-kafka / librdkafka), from
docs/stream.md alone, sends an envelope the platform accepts."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from stream.contract import envelope
from stream.kafka.settings import KafkaSettings

confluent_kafka = pytest.importorskip("confluent_kafka",
                                      reason="confluent-kafka (test extra) is not installed")

pytestmark = pytest.mark.integration


async def test_confluent_kafka_producer_follows_the_documented_contract(
    kafka_settings: KafkaSettings, unique_name: str,
) -> None:
    topic = f"{unique_name}-raw"
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    # Written from the documentation's example and rules, not from our code.
    value = {
        "schema_version": 1, "batch_id": str(uuid.uuid4()), "gateway_id": "GW-OTHER",
        "device_id": "DEV-OTHER-1", "device_type": "smartwatch", "subject": "S-9001",
        "seq_from": 0, "seq_to": 1, "sent_at": now,
        "readings": [
            {"seq": 0, "metric": "heart_rate", "value": 64, "unit": "/min", "time": now,
             "received_at": now},
            {"seq": 1, "metric": "spo2", "value": 98, "unit": "%", "time": now,
             "received_at": now, "quality": 0},
        ],
    }
    producer = confluent_kafka.Producer({"bootstrap.servers": kafka_settings.bootstrap,
                                         "acks": "all", "enable.idempotence": False,
                                         "compression.type": "zstd"})
    errors: list[object] = []
    producer.produce(topic, key=b"S-9001", value=json.dumps(value).encode(),
                     on_delivery=lambda err, _msg: errors.append(err))
    assert producer.flush(15) == 0
    assert errors == [None]

    consumer = AIOKafkaConsumer(**kafka_settings.consumer_config(group_id=None))
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            await consumer.topics()
            partitions = consumer.partitions_for_topic(topic)
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        records = []
        while not records:
            batch = await consumer.getmany(timeout_ms=5000)
            assert batch, "nothing arrived"
            records = [r for rs in batch.values() for r in rs]
    finally:
        await consumer.stop()
    [record] = records
    assert record.key == b"S-9001"
    decoded = envelope.decode(record.value)  # the platform's own strict decoder
    assert decoded.subject == "S-9001"
    assert [(r.metric, r.value) for r in decoded.readings] == [("heart_rate", 64.0),
                                                               ("spo2", 98.0)]
