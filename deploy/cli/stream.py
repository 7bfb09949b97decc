"""``trialwire stream``: run the stream worker (Faust) that validates, stores and judges."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated

import typer
from aiokafka.errors import KafkaError
from pydantic import SecretStr, ValidationError

from deploy.cli.connections import database_url, kafka_settings
from deploy.cli.metrics import MetricsHostOption, MetricsPortOption, serve_metrics
from deploy.cli.options import DataDirOption
from deploy.cli.output import console, fail
from deploy.logs import configure_logging
from deploy.services import default_data_dir
from storage import StorageError
from storage.migrate import require_current
from storage.pool import connect
from storage.settings import DatabaseSettings
from stream.flags.config import RuleConfigError, definitions_from_file, load_rules
from stream.kafka.admin import ensure_topics, partition_count
from stream.kafka.settings import KafkaSettings
from stream.settings import StreamSettings

app = typer.Typer(help="The stream worker.", no_args_is_help=True)


async def _prepare(dsn: str, kafka: KafkaSettings) -> tuple[str, int, int]:
    conn = await connect(dsn)
    try:
        mode = await require_current(conn)
    finally:
        await conn.close()
    await ensure_topics(kafka)
    return (mode, await partition_count(kafka, kafka.topics.raw_readings),
            await partition_count(kafka, kafka.topics.status))


@app.command()
def worker(
    data_dir: DataDirOption = None,
    app_id: Annotated[str | None, typer.Option(
        help="Faust app id = consumer group (workers with one id share the partitions).")] = None,
    rules: Annotated[Path | None, typer.Option(
        help="Rule definitions (YAML) replacing the packaged defaults.")] = None,
    web_port: Annotated[int | None, typer.Option(help="Faust web server port (127.0.0.1).")] = None,
    metrics_port: MetricsPortOption = None,
    metrics_host: MetricsHostOption = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error "
                                                "(TRIALWIRE_LOG_LEVEL overrides).")] = "info",
) -> None:
    """Consume the raw readings topic: validate, store, raise flags, publish watermarks."""
    from faust import Worker

    from stream import garbage_collection
    from stream.app import create_app

    try:
        settings = StreamSettings()
    except ValidationError as exc:
        fail(f"invalid TRIALWIRE_STREAM_* setting: {exc}")
    updates = {k: v for k, v in (("app_id", app_id), ("rules_file", rules),
                                 ("web_port", web_port), ("metrics_port", metrics_port),
                                 ("metrics_host", metrics_host))
               if v is not None}
    settings = settings.model_copy(update=updates)
    if settings.rules_file is not None:
        try:
            load_rules(defaults=definitions_from_file(settings.rules_file))
        except RuleConfigError as exc:
            fail(str(exc))
    data_dir = data_dir or default_data_dir()
    dsn = database_url(data_dir)
    kafka = kafka_settings(data_dir)
    try:
        mode, partitions, status_partitions = asyncio.run(_prepare(dsn, kafka))
    except StorageError as exc:
        fail(str(exc))
    except (KafkaError, OSError) as exc:
        fail(f"cannot reach Kafka at {kafka.bootstrap}: {exc}")
    if partitions < 1 or status_partitions < 1:
        fail(f"topics {kafka.topics.raw_readings} / {kafka.topics.status} have no partitions")
    configure_logging(log_level, process="stream-worker")
    serve_metrics(settings.metrics_port, settings.metrics_host)
    faust_app = create_app(kafka=kafka, stream=settings,
                           database=DatabaseSettings(url=SecretStr(dsn)), storage_mode=mode,
                           raw_partitions=partitions,
                           status_partitions=status_partitions, data_dir=data_dir / "stream")
    garbage_collection.tune()
    console.print(f"stream worker [bold]{settings.app_id}[/]: {kafka.topics.raw_readings} "
                  f"({partitions} partitions) → {mode} storage", highlight=False)
    Worker(faust_app, loglevel=logging.getLogger().level, quiet=True,
           override_logging=False).execute_from_commandline()
