"""``trialwire alerts``: run the alert dispatcher, and manage where a study's flags go.

The dispatcher assembles in :mod:`stream.alerts.service`; these commands resolve the
database (environment, else the embedded one of the data directory) and call it."""

from __future__ import annotations

import asyncio
from datetime import time
from typing import Annotated, Any

import typer

from deploy.cli.connections import database_url
from deploy.cli.options import DataDirOption
from deploy.cli.output import console, fail

app = typer.Typer(help="Alert delivery: the dispatcher, and where each study's flags go.",
                  no_args_is_help=True)
channel_app = typer.Typer(help="Where a study's flags are sent.", no_args_is_help=True)
app.add_typer(channel_app, name="channel")

SEVERITIES = ("info", "low", "medium", "high", "critical")


def _dsn(data_dir: Any) -> str:
    from deploy.services import default_data_dir
    return database_url(data_dir or default_data_dir())


@app.command("run")
def run_dispatcher(
    data_dir: DataDirOption = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Send every new flag to its study's matching channels until SIGTERM (settings:
    TRIALWIRE_ALERTS_*, the SMTP relay TRIALWIRE_SMTP_*)."""
    import psycopg
    from pydantic import ValidationError

    from deploy.logs import configure_logging
    from storage import StorageError
    from stream.alerts import service
    from stream.alerts.settings import AlertSettings, SmtpSettings

    try:
        settings, smtp = AlertSettings(), SmtpSettings()
    except ValidationError as exc:
        fail(f"invalid TRIALWIRE_ALERTS_* / TRIALWIRE_SMTP_* setting: {exc}")
    configure_logging(log_level, process="alerts")
    try:
        counts = service.run(dsn=_dsn(data_dir), settings=settings, smtp=smtp)
    except StorageError as exc:
        fail(str(exc))
    except (OSError, psycopg.OperationalError) as exc:
        fail(f"cannot reach the database: {str(exc).strip().splitlines()[0]}")
    console.print(f"alert dispatcher stopped: {counts}", highlight=False)


def _daily_range(option: str, value: str | None) -> tuple[time, time, str] | None:
    """``HH:MM-HH:MM@Zone`` → (start, end, zone); ``option`` names it in errors."""
    if value is None:
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
    try:
        span, zone = value.split("@", 1)
        start, end = (time.fromisoformat(part) for part in span.split("-", 1))
        ZoneInfo(zone)
    except (ValueError, ZoneInfoNotFoundError):
        fail(f"{option} {value!r}: expected HH:MM-HH:MM@Area/City, e.g. 22:00-07:00@Europe/Paris")
    if start == end:
        fail(f"{option}: start and end are the same time")
    return start, end, zone


@channel_app.command("add")
def add_channel(
    study: Annotated[str, typer.Option(help="Study code.")],
    name: Annotated[str, typer.Option(help="A name unique in the study.")],
    webhook: Annotated[str | None, typer.Option(help="Webhook URL (https://…).")] = None,
    email: Annotated[str | None, typer.Option(help="E-mail address.")] = None,
    min_severity: Annotated[str, typer.Option(help="Lowest severity sent.")] = "medium",
    rule: Annotated[list[str] | None, typer.Option(help="Only this rule (repeatable).")] = None,
    site: Annotated[list[str] | None, typer.Option(help="Only this site (repeatable).")] = None,
    quiet: Annotated[str | None, typer.Option(
        help="Quiet hours HH:MM-HH:MM@Area/City: non-critical alerts wait for their end.")] = None,
    on_call: Annotated[str | None, typer.Option(
        help="On-call hours HH:MM-HH:MM@Area/City: only flags stored within them.")] = None,
    escalate_after_min: Annotated[int, typer.Option(
        min=0, max=10_080, help="A later on-call level: sent a flag only if nobody "
        "acknowledged it within this many minutes (0: at once).")] = 0,
    data_dir: DataDirOption = None,
) -> None:
    """Add a channel; a webhook's signing secret is printed once (keep it)."""
    import psycopg

    from storage import alerts
    from storage.pool import connect

    if (webhook is None) == (email is None):
        fail("give exactly one of --webhook URL or --email ADDRESS")
    if min_severity not in SEVERITIES:
        fail(f"--min-severity must be one of {', '.join(SEVERITIES)}")
    if webhook is not None and not webhook.startswith(("https://", "http://")):
        fail("--webhook must be an http(s) URL")
    if email is not None and "@" not in email:
        fail("--email must be an e-mail address")
    window = _daily_range("--quiet", quiet)
    shift = _daily_range("--on-call", on_call)

    async def create() -> alerts.Channel:
        conn = await connect(_dsn(data_dir))
        try:
            async with conn.transaction():
                return await alerts.create_channel(
                    conn, study=study, name=name, kind="webhook" if webhook else "email",
                    target=webhook or email or "", min_severity=min_severity, rules=rule,
                    sites=site, quiet=window, escalate_after_s=escalate_after_min * 60,
                    on_call=shift)
        finally:
            await conn.close()

    try:
        channel = asyncio.run(create())
    except psycopg.errors.UniqueViolation:
        fail(f"study {study} already has a channel named {name!r}")
    except psycopg.errors.ForeignKeyViolation:
        fail(f"no study {study!r}")
    console.print(f"channel {channel.id} {channel.name!r}: {channel.kind} → {channel.target}",
                  highlight=False)
    if channel.secret:
        console.print(f"signing secret (shown once): {channel.secret}", highlight=False)


@channel_app.command("list")
def list_channels(
    study: Annotated[str | None, typer.Option(help="Only this study.")] = None,
    data_dir: DataDirOption = None,
) -> None:
    """The channels, without their secrets."""
    from rich.table import Table

    from storage import alerts
    from storage.pool import connect

    async def fetch() -> list[alerts.Channel]:
        conn = await connect(_dsn(data_dir))
        try:
            return await alerts.channels(conn, study=study)
        finally:
            await conn.close()

    table = Table()
    for column in ("id", "study", "name", "kind", "target", "min severity", "rules", "sites",
                   "quiet", "on call", "escalate after", "enabled"):
        table.add_column(column)
    for c in asyncio.run(fetch()):
        quiet = _show(c.quiet)
        table.add_row(str(c.id), c.study, c.name, c.kind, c.target, c.min_severity,
                      ",".join(c.rules), ",".join(c.sites), quiet, _show(c.on_call),
                      f"{c.escalate_after_s // 60} min" if c.escalate_after_s else "",
                      str(c.enabled))
    console.print(table)


def _show(value: tuple[time, time, str] | None) -> str:
    return f"{value[0]:%H:%M}-{value[1]:%H:%M}@{value[2]}" if value else ""
