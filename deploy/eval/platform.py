"""A throwaway platform for evaluations: embedded PostgreSQL and broker in a directory,
migrated, topics created under a prefix, and stream workers as real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

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
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

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
                "TRIALWIRE_STREAM_APP_ID": f"{self.kafka.topic_prefix}-stream",
                "TRIALWIRE_STREAM_BATCH_WITHIN_S": "0.1"}

    def start_worker(self) -> subprocess.Popen[bytes]:
        n = len(self.workers) + 1
        log = (self.root / f"worker-{n}.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "deploy.cli", "stream", "worker", "--data-dir",
             str(self.root / f"worker-{n}")], env=self.env(), stdout=log,
            stderr=subprocess.STDOUT)
        self.workers.append(proc)
        return proc

    async def connect(self) -> psycopg.AsyncConnection[object]:
        return await connect(self.dsn)

    def stop(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.workers:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.broker.stop()
        self.postgres.stop()
