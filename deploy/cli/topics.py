"""``trialwire topics``: create the platform's Kafka topics."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from aiokafka.errors import KafkaError
from rich.table import Table

from deploy.cli.connections import kafka_settings
from deploy.cli.options import DataDirOption
from deploy.cli.output import console, fail
from stream.kafka.admin import ensure_topics

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
    settings = kafka_settings(data_dir)
    specs = settings.topics.specs()
    if partitions is not None and partitions < 1:
        fail("--partitions must be at least 1")
    overrides = {t.name: partitions for t in specs} if partitions else None
    try:
        result = asyncio.run(ensure_topics(settings, partitions=overrides,
                                           replication=replication))
    except (KafkaError, OSError) as exc:
        fail(f"cannot reach Kafka at {settings.bootstrap}: {exc}")
    table = Table()
    # Topic names are copied into configs: never wrapped or cut, however narrow the terminal.
    table.add_column("topic", no_wrap=True, min_width=max(len(s.name) for s in specs))
    for column in ("state", "partitions", "key", "what"):
        table.add_column(column)
    for spec in specs:
        table.add_row(spec.name, result[spec.name], str(partitions or spec.partitions),
                      spec.key, spec.description)
    console.print(table)
