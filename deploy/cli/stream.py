"""``trialwire stream``: run the stream worker (Faust) that validates, stores and judges.

The worker assembles in :mod:`stream.worker`; this command resolves where the database and
Kafka are (environment or the embedded services) and reports start-up problems clearly."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from deploy.cli.connections import database_url, kafka_settings
from deploy.cli.metrics import MetricsHostOption, MetricsPortOption
from deploy.cli.options import DataDirOption
from deploy.cli.output import console, fail

app = typer.Typer(help="The stream worker.", no_args_is_help=True)


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
    from aiokafka.errors import KafkaError
    from pydantic import ValidationError

    from deploy.logs import configure_logging
    from deploy.services import default_data_dir
    from storage import StorageError
    from stream import worker as stream_worker
    from stream.errors import StreamError
    from stream.flags.config import RuleConfigError
    from stream.settings import StreamSettings

    try:
        settings = StreamSettings()
    except ValidationError as exc:
        fail(f"invalid TRIALWIRE_STREAM_* setting: {exc}")
    settings = settings.model_copy(update={k: v for k, v in (
        ("app_id", app_id), ("rules_file", rules), ("web_port", web_port),
        ("metrics_port", metrics_port), ("metrics_host", metrics_host)) if v is not None})
    data_dir = data_dir or default_data_dir()
    dsn, kafka = database_url(data_dir), kafka_settings(data_dir)
    try:
        stream_worker.check_rules(settings)
        ready = asyncio.run(stream_worker.prepare(dsn, kafka, settings.app_id))
    except (RuleConfigError, StorageError, StreamError) as exc:
        fail(str(exc))
    except (KafkaError, OSError) as exc:
        fail(f"cannot reach Kafka at {kafka.bootstrap}: {exc}")
    configure_logging(log_level, process="stream-worker")
    console.print(f"stream worker [bold]{settings.app_id}[/]: {kafka.topics.raw_readings} "
                  f"({ready.raw_partitions} partitions) → {ready.storage_mode} storage",
                  highlight=False)
    try:
        stream_worker.run(settings=settings, kafka=kafka, dsn=dsn, data_dir=data_dir,
                          ready=ready)
    except StreamError as exc:
        fail(str(exc))
