"""Where the CLI's commands find Kafka and PostgreSQL: the environment first, else the
embedded services running from the data directory (a clear error when neither is there)."""

from __future__ import annotations

import os
from pathlib import Path

from deploy.cli.output import fail
from deploy.services import ServiceError, default_data_dir, resolve_database_url, resolve_kafka
from stream.kafka.settings import KafkaSettings


def resolved_kafka_settings(data_dir: Path | None) -> KafkaSettings:
    """``TRIALWIRE_KAFKA_*`` settings, pointed at the embedded broker unless a bootstrap is
    set; raises ServiceError when there is neither."""
    settings = KafkaSettings()
    if "TRIALWIRE_KAFKA_BOOTSTRAP" in os.environ:
        return settings
    bootstrap, embedded = resolve_kafka(data_dir or default_data_dir())
    return settings.model_copy(update={"bootstrap": bootstrap, "embedded_broker": embedded})


def kafka_settings(data_dir: Path | None) -> KafkaSettings:
    """Like :func:`resolved_kafka_settings`, for commands that cannot run without Kafka."""
    try:
        return resolved_kafka_settings(data_dir)
    except ServiceError as exc:
        fail(str(exc))


def database_url(data_dir: Path | None) -> str:
    """``TRIALWIRE_DATABASE_URL``, else the embedded PostgreSQL's."""
    try:
        return resolve_database_url(data_dir)
    except ServiceError as exc:
        fail(str(exc))
