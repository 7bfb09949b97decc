"""Create the platform's topics (``trialwire topics create``), idempotently."""

from __future__ import annotations

import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from stream.contract.topics import TopicSpec
from stream.kafka.settings import KafkaSettings

logger = logging.getLogger(__name__)


async def ensure_topics(settings: KafkaSettings, *, partitions: dict[str, int] | None = None,
                        replication: int | None = None,
                        specs: tuple[TopicSpec, ...] | None = None) -> dict[str, str]:
    """Create missing topics; returns name → "created" | "exists".

    Retention and compaction are set where the broker supports them; the embedded broker
    does not (shared/kafka-compat.md), so there they are skipped.
    """
    if specs is None:
        specs = settings.topics.specs()
    admin = AIOKafkaAdminClient(**settings.admin_config())
    await admin.start()
    result: dict[str, str] = {}
    try:
        existing = set(await admin.list_topics())
        replicas = replication or settings.replicas()
        for spec in specs:
            if spec.name in existing:
                result[spec.name] = "exists"
                continue
            configs = {}
            if not settings.embedded_broker:
                configs = ({"cleanup.policy": "compact"} if spec.compacted
                           else {"retention.ms": str(7 * 24 * 3600 * 1000)})
            topic = NewTopic(spec.name, (partitions or {}).get(spec.name, spec.partitions),
                             replicas, topic_configs=configs)
            try:
                await admin.create_topics([topic])
                result[spec.name] = "created"
            except TopicAlreadyExistsError:
                result[spec.name] = "exists"
    finally:
        await admin.close()
    return result


async def partition_count(settings: KafkaSettings, topic: str) -> int:
    """How many partitions ``topic`` has (0 if it does not exist)."""
    admin = AIOKafkaAdminClient(**settings.admin_config())
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    for entry in described:
        if entry.get("topic") == topic and not entry.get("error_code"):
            return len(entry.get("partitions", []))
    return 0
