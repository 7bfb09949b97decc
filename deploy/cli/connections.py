"""Where the CLI's commands find Kafka and PostgreSQL: the environment first, else the
embedded services running from the data directory (a clear error when neither is there)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from deploy.cli.output import fail
from deploy.services import ServiceError, default_data_dir, resolve_database_url, resolve_kafka
from stream.kafka.settings import KafkaSettings

T = TypeVar("T")


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


def run_on_database(data_dir: Path | None, work: Callable[[Any], Awaitable[T]], *,
                    refused: tuple[type[Exception], ...] = (ValueError,)) -> T:
    """``work(conn)`` on a connection to a current schema (the environment's database, else
    the embedded one of ``data_dir``), committed after it; an exception of ``refused``
    (the change cannot be made) or any database failure ends the command with one line,
    and nothing is committed."""
    from storage import StorageError
    from storage.migrate import require_current
    from storage.pool import connect

    dsn = database_url(data_dir or default_data_dir())

    async def run() -> T:
        conn = await connect(dsn)
        try:
            await require_current(conn)
            result = await work(conn)
            await conn.commit()
            return result
        finally:
            await conn.close()

    clear: tuple[type[Exception], ...] = (*refused, StorageError)
    try:
        return asyncio.run(run())
    except clear as exc:
        fail(str(exc))
    except Exception as exc:
        fail(f"database error: {str(exc).splitlines()[0]}")
