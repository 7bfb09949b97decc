"""``trialwire topics``: create the platform's Kafka topics."""

from __future__ import annotations

import asyncio
import os
from typing import Annotated

import typer
from aiokafka.errors import KafkaError
from rich.table import Table

from deploy.cli.options import DataDirOption
from deploy.cli.output import console, fail
from deploy.services import ServiceError, default_data_dir, resolve_kafka
from stream.kafka.admin import ensure_topics
from stream.kafka.settings import KafkaSettings
from stream.topics import TOPICS

app = typer.Typer(help="Kafka topics of the platform.", no_args_is_help=True)


@app.command()
def create(
    data_dir: DataDirOption = None,
    partitions: Annotated[
        int | None, typer.Option(help="Partitions for every topic (default: per topic).")
    ] = None,
    replication: Annotated[
        int | None, typer.Option(help="Replication factor (default 3, or 1 embedded).")
    ] = None,
) -> None:
    """Create missing topics (idempotent) and list them with their keys."""
    settings = KafkaSettings()
    if "TRIALWIRE_KAFKA_BOOTSTRAP" not in os.environ:
        try:
            bootstrap, embedded = resolve_kafka(data_dir or default_data_dir())
        except ServiceError as exc:
            fail(str(exc))
        settings = settings.model_copy(update={"bootstrap": bootstrap,
                                               "embedded_broker": embedded})
    if partitions is not None and partitions < 1:
        fail("--partitions must be at least 1")
    overrides = {t.name: partitions for t in TOPICS} if partitions else None
    try:
        result = asyncio.run(ensure_topics(settings, partitions=overrides,
                                           replication=replication))
    except (KafkaError, OSError) as exc:
        fail(f"cannot reach Kafka at {settings.bootstrap}: {exc}")
    table = Table()
    for column in ("topic", "state", "partitions", "key", "what"):
        table.add_column(column)
    for spec in TOPICS:
        table.add_row(spec.name, result[spec.name], str(partitions or spec.partitions),
                      spec.key, spec.description)
    console.print(table)
