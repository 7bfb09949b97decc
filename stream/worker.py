"""The stream worker's assembly: check the schema and the topics, build the Faust app, tune
the collector, serve metrics, run until SIGTERM. ``trialwire stream worker`` and ``python
-m stream`` both call :func:`run`."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import start_http_server
from pydantic import SecretStr

from storage.migrate import require_current
from storage.pool import connect
from storage.settings import DatabaseSettings
from stream import garbage_collection, rebalance_watchdog
from stream.app import create_app
from stream.errors import MetricsPortError, StreamError
from stream.flags.config import definitions_from_file, load_rules
from stream.kafka.admin import ensure_topics, partition_count
from stream.kafka.ghost_offsets import rewind_ghost_commits
from stream.kafka.settings import KafkaSettings
from stream.settings import StreamSettings
from stream.stop_deadline import DeadlineWorker

logger = logging.getLogger(__name__)


class TopicsMissingError(StreamError):
    """The raw or status topic has no partitions: ``trialwire topics create`` first."""

    reason = "topics_missing"


@dataclass(frozen=True, slots=True)
class Readiness:
    """What the worker found before it started consuming."""

    storage_mode: str
    raw_partitions: int
    status_partitions: int


async def prepare(dsn: str, kafka: KafkaSettings, group: str | None = None) -> Readiness:
    """Schema current (else StorageError), topics present (created when missing), and the
    consumer ``group``'s commits past a log's end (a broker that lost its data) rewound."""
    conn = await connect(dsn)
    try:
        mode = await require_current(conn)
    finally:
        await conn.close()
    await ensure_topics(kafka)
    ready = Readiness(mode, await partition_count(kafka, kafka.topics.raw_readings),
                      await partition_count(kafka, kafka.topics.status))
    if ready.raw_partitions < 1 or ready.status_partitions < 1:
        raise TopicsMissingError(f"topics {kafka.topics.raw_readings} / {kafka.topics.status} "
                                 "have no partitions")
    if group is not None:
        await rewind_ghost_commits(kafka, group, [kafka.topics.raw_readings, kafka.topics.status])
    return ready


def check_rules(settings: StreamSettings) -> None:
    """Load a custom rules file now, so a bad one fails before any consuming (RuleConfigError)."""
    if settings.rules_file is not None:
        load_rules(defaults=definitions_from_file(settings.rules_file))


def run(*, settings: StreamSettings, kafka: KafkaSettings, dsn: str, data_dir: Path,
        ready: Readiness | None = None) -> None:
    """Consume until stopped. ``ready`` is :func:`prepare`'s answer (computed when None)."""
    check_rules(settings)
    ready = ready or asyncio.run(prepare(dsn, kafka, settings.app_id))
    if settings.metrics_port is not None:
        try:
            start_http_server(settings.metrics_port, addr=settings.metrics_host)
        except OSError as exc:
            raise MetricsPortError(f"cannot serve metrics on {settings.metrics_host}:"
                                   f"{settings.metrics_port}: {exc.strerror or exc}") from exc
    app = create_app(kafka=kafka, stream=settings, database=DatabaseSettings(url=SecretStr(dsn)),
                     storage_mode=ready.storage_mode, raw_partitions=ready.raw_partitions,
                     status_partitions=ready.status_partitions, data_dir=data_dir / "stream")
    garbage_collection.tune()
    rebalance_watchdog.start(app, stall_restart_s=settings.stall_restart_s)
    DeadlineWorker(app, loglevel=logging.getLogger().level, quiet=True,
           override_logging=False).execute_from_commandline()
