"""Stream workers as real subprocesses (``trialwire stream worker``) on a given broker and
database, with topics under a per-run prefix; a producer of envelopes and a reader of the
output topics. The pipeline benchmark and the stream tests both drive workers through it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from deploy.eval.workers import StreamWorkers
from stream.kafka.admin import ensure_topics
from stream.kafka.settings import KafkaSettings


@dataclass
class StreamRig:
    kafka: KafkaSettings
    dsn: str
    data_dir: Path
    app_id: str
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    stopped: list[subprocess.Popen[bytes]] = field(default_factory=list)  # on purpose
    launcher: StreamWorkers | None = None
    # Tests want completeness recomputed at once; the benchmarks run the production
    # default (60 s), or the recomputation would be part of what they measure.
    completeness_interval_s: float | None = 1.0

    def crashed(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.workers if p.poll() is not None and p not in self.stopped]

    def env(self) -> dict[str, str]:
        env = {**os.environ, "TRIALWIRE_DATABASE_URL": self.dsn,
               "TRIALWIRE_KAFKA_BOOTSTRAP": self.kafka.bootstrap,
               "TRIALWIRE_KAFKA_EMBEDDED_BROKER": str(self.kafka.embedded_broker).lower(),
               "TRIALWIRE_KAFKA_TOPIC_PREFIX": self.kafka.topic_prefix,
               "TRIALWIRE_STREAM_APP_ID": self.app_id}
        if self.completeness_interval_s is not None:
            env["TRIALWIRE_STREAM_COMPLETENESS_INTERVAL_S"] = str(self.completeness_interval_s)
        return env

    def start_worker(self, name: str = "w1") -> subprocess.Popen[bytes]:
        if self.launcher is None:
            self.launcher = StreamWorkers(self.data_dir, self.env())
        proc = self.launcher.start(name)
        self.workers.append(proc)
        return proc

    def log(self, name: str = "w1") -> str:
        path = self.data_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def diagnostics(self) -> str:
        """Each worker log's warnings, errors and tracebacks, then its last lines."""
        out = []
        for path in sorted(self.data_dir.glob("w*.log")):
            lines = path.read_text(errors="replace").splitlines()
            notable = [ln for ln in lines if any(k in ln for k in (
                "WARNING", "ERROR", "Traceback", "Error", "CRITICAL", "assigned",
                '"level": "warning"', '"level": "error"', '"level": "critical"'))]
            out += [f"== {path.name}: {len(lines)} lines; notable:", *notable[-60:],
                    f"== {path.name}: last lines:", *lines[-15:]]
        return "\n".join(out)

    def kill(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
        self.stopped.append(proc)
        proc.send_signal(sig)
        proc.wait(timeout=60)

    def stop_all(self) -> None:
        if self.launcher is not None:
            self.launcher.stop_all()

    async def produce(self, values: list[bytes | None], *, key: bytes = b"S-1",
                      topic: str | None = None) -> None:
        producer = AIOKafkaProducer(**self.kafka.producer_config())
        await producer.start()
        try:
            for value in values:
                await producer.send(topic or self.kafka.topics.raw_readings, value, key=key)
            await producer.flush()
        finally:
            await producer.stop()

    async def uncommitted(self, topic: str | None = None) -> int:
        """Records of ``topic`` (raw readings) past the worker group's committed offsets."""
        topic = topic or self.kafka.topics.raw_readings
        consumer = AIOKafkaConsumer(**self.kafka.consumer_config(group_id=self.app_id))
        await consumer.start()
        try:
            await consumer.topics()
            tps = [TopicPartition(topic, p)
                   for p in consumer.partitions_for_topic(topic) or set()]
            ends = await consumer.end_offsets(tps)
            behind = 0
            for tp in tps:
                behind += ends[tp] - ((await consumer.committed(tp)) or 0)
            return behind
        finally:
            await consumer.stop()

    async def read(self, topic: str, *, minimum: int = 0, timeout: float = 30,
                   ) -> list[Any]:
        """Records of ``topic`` from the beginning (at least ``minimum``, or what is there)."""
        consumer = AIOKafkaConsumer(**self.kafka.consumer_config(group_id=None))
        await consumer.start()
        records: list[Any] = []
        try:
            await consumer.topics()
            parts = consumer.partitions_for_topic(topic) or set()
            tps = [TopicPartition(topic, p) for p in parts]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            deadline = asyncio.get_running_loop().time() + timeout
            while asyncio.get_running_loop().time() < deadline:
                batch = await consumer.getmany(timeout_ms=500)
                for recs in batch.values():
                    records.extend(recs)
                if not batch and len(records) >= minimum:
                    break
        finally:
            await consumer.stop()
        return records


async def create_topics(kafka: KafkaSettings, partitions: int = 2) -> None:
    await ensure_topics(kafka, partitions={s.name: partitions for s in kafka.topics.specs()})
