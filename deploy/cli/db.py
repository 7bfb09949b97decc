"""``trialwire db``: apply migrations and report the schema and storage mode."""

from __future__ import annotations

import asyncio

import typer
from rich.table import Table

import storage.migrate as migrations
from deploy.cli.connections import database_url
from deploy.cli.options import DataDirOption
from deploy.cli.output import console, fail
from storage import StorageError
from storage.pool import connect
from storage.settings import DatabaseSettings

app = typer.Typer(help="Database schema and storage mode.", no_args_is_help=True)


@app.command()
def migrate(data_dir: DataDirOption = None) -> None:
    """Apply pending migrations (safe to re-run)."""
    dsn = database_url(data_dir)
    settings = DatabaseSettings()

    async def run() -> list[migrations.Migration]:
        conn = await connect(dsn)
        try:
            return await migrations.migrate(
                conn,
                partitions_ahead_days=settings.partitions_ahead_days,
                progress=lambda m: console.print(f"applying {m.version:04d}_{m.name} ..."),
            )
        finally:
            await conn.close()

    try:
        applied = asyncio.run(run())
    except (StorageError, OSError) as exc:
        fail(str(exc))
    if applied:
        console.print(f"[green]applied {len(applied)} migration(s)[/]")
    else:
        console.print("schema is up to date")


@app.command()
def status(data_dir: DataDirOption = None) -> None:
    """Schema version, pending migrations and the storage mode (TimescaleDB or partitioned)."""
    dsn = database_url(data_dir)

    async def run() -> migrations.SchemaStatus:
        conn = await connect(dsn)
        try:
            return await migrations.status(conn)
        finally:
            await conn.close()

    try:
        st = asyncio.run(run())
    except (StorageError, OSError) as exc:
        fail(str(exc))
    table = Table(show_header=False)
    table.add_row("schema version", f"{st.current_version} (code knows {st.code_version})")
    table.add_row("pending", ", ".join(f"{m.version:04d}_{m.name}" for m in st.pending) or "none")
    if st.changed:
        table.add_row("[red]changed since applied[/]", ", ".join(map(str, st.changed)))
    table.add_row("storage mode", st.mode or "not decided (run `trialwire db migrate`)")
    why = st.mode_reason or st.timescale.reason
    if st.mode == "timescaledb" and st.timescale.installed_version:
        # The stored reason was written before the migration created the extension
        # ("... will be created"); say what is true now.
        why = st.timescale.reason
    table.add_row("why", why)
    console.print(table)
    if st.pending or st.current_version > st.code_version:
        raise typer.Exit(1)
