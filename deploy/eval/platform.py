"""A throwaway platform for evaluations: embedded PostgreSQL and broker in a directory,
migrated, topics created under a prefix, and stream workers as real processes."""

from __future__ import annotations

import os
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from deploy.eval.workers import StreamWorkers
from deploy.services.broker import EmbeddedBroker
from deploy.services.postgres import EmbeddedPostgres
from storage.migrate import migrate
from storage.pool import connect
from stream.kafka.admin import ensure_topics
from stream.kafka.settings import KafkaSettings


@dataclass
class Platform:
    root: Path
    postgres: EmbeddedPostgres
    broker: EmbeddedBroker
    dsn: str
    kafka: KafkaSettings
    workers: StreamWorkers | None = None

    @classmethod
    async def start(cls, root: Path, *, partitions: int = 4) -> Platform:
        postgres = EmbeddedPostgres(root / "postgres", fast=True)
        postgres.start()
        broker = EmbeddedBroker(root / "broker", storage="memory")
        try:
            broker.start()
        except Exception:
            postgres.stop()
            raise
        dsn = postgres.dsn()
        conn = await connect(dsn)
        try:
            await migrate(conn)
            await conn.commit()
        finally:
            await conn.close()
        kafka = KafkaSettings(bootstrap=broker.bootstrap, embedded_broker=True,
                              topic_prefix=f"eval-{uuid.uuid4().hex[:8]}")
        await ensure_topics(kafka, partitions={s.name: partitions for s in kafka.topics.specs()})
        return cls(root, postgres, broker, dsn, kafka)

    def env(self) -> dict[str, str]:
        return {**os.environ, "TRIALWIRE_DATABASE_URL": self.dsn,
                "TRIALWIRE_KAFKA_BOOTSTRAP": self.kafka.bootstrap,
                "TRIALWIRE_KAFKA_EMBEDDED_BROKER": "true",
                "TRIALWIRE_KAFKA_TOPIC_PREFIX": self.kafka.topic_prefix,
                "TRIALWIRE_STREAM_APP_ID": self.app_id,
                # A worker seen ready but consuming nothing after a broker restart is
                # replaced within the run's drain window (240 s), not after 120 s more.
                "TRIALWIRE_STREAM_STALL_RESTART_S": "60"}

    @property
    def app_id(self) -> str:
        """The stream workers' app id, which is also their consumer group."""
        return f"{self.kafka.topic_prefix}-stream"

    def start_worker(self) -> subprocess.Popen[bytes]:
        if self.workers is None:
            self.workers = StreamWorkers(self.root, self.env())
        return self.workers.start(f"worker-{len(self.workers.processes) + 1}")

    async def connect(self) -> psycopg.AsyncConnection[object]:
        return await connect(self.dsn)

    async def produce(self, topic: str, records: list[tuple[bytes, bytes | None]]) -> None:
        """Put (key, value) records on ``topic``, acknowledged."""
        producer = AIOKafkaProducer(**self.kafka.producer_config())
        await producer.start()
        try:
            for key, value in records:
                await producer.send(topic, value, key=key)
            await producer.flush()
        finally:
            await producer.stop()

    async def topic_size(self, topic: str) -> int:
        """Records on ``topic`` so far (the sum of its partitions' end offsets)."""
        consumer = AIOKafkaConsumer(**self.kafka.consumer_config(group_id=None))
        await consumer.start()
        try:
            partitions = consumer.partitions_for_topic(topic) or set()
            ends = await consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
            return sum(ends.values())
        finally:
            await consumer.stop()

    def stop(self) -> None:
        if self.workers is not None:
            self.workers.stop_all()
        self.broker.stop()
        self.postgres.stop()
