"""``trialwire api``: serve the study database API; create access tokens."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from api.auth.roles import Role
from deploy.cli.connections import database_url, resolved_kafka_settings, run_on_database
from deploy.cli.metrics import MetricsHostOption, MetricsPortOption
from deploy.cli.options import DataDirOption
from deploy.cli.output import console, fail

T = TypeVar("T")

app = typer.Typer(help="The study database API.", no_args_is_help=True)


@app.command()
def serve(
    data_dir: DataDirOption = None,
    host: Annotated[str | None, typer.Option(
        help="Address to bind (default TRIALWIRE_API_HOST or 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(
        help="Port to bind (default TRIALWIRE_API_PORT or 8000).")] = None,
    metrics_port: MetricsPortOption = None,
    metrics_host: MetricsHostOption = None,
) -> None:
    """Serve the API (OpenAPI at /docs) until stopped."""
    from pydantic import ValidationError

    from api import server
    from api.settings import ApiSettings
    from deploy.logs import configure_logging
    from deploy.services import ServiceError
    from storage import StorageError

    try:
        settings = ApiSettings()
    except ValidationError as exc:
        fail(f"invalid TRIALWIRE_API_* setting: {exc}")
    settings = settings.model_copy(update={k: v for k, v in (
        ("host", host), ("port", port), ("metrics_port", metrics_port),
        ("metrics_host", metrics_host)) if v is not None})
    configure_logging("INFO", process="api")
    dsn = database_url(data_dir)
    kafka = None
    try:
        kafka = resolved_kafka_settings(data_dir)
    except ServiceError as exc:
        console.print(f"[yellow]HTTP ingest off[/]: {exc}", highlight=False)
    console.print(f"API on http://{settings.host}:{settings.port} (OpenAPI: /docs)",
                  highlight=False)
    try:
        server.run(settings=settings, dsn=dsn, kafka=kafka)
    except (StorageError, server.MetricsPortError) as exc:
        fail(str(exc))


token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")


@token_app.command("create")
def token_create(
    role: Annotated[Role, typer.Option(help="admin, monitor, edc, analyst or gateway.")],
    study: Annotated[str | None, typer.Option(
        help="Study the token is valid for (omit only for a platform admin).")] = None,
    gateway: Annotated[str | None, typer.Option(help="Gateway id (role gateway only).")] = None,
    name: Annotated[str, typer.Option(help="A label, e.g. who holds it.")] = "",
    data_dir: DataDirOption = None,
) -> None:
    """Create a token and print it (shown once; only a keyed hash is stored)."""
    from api.auth.tokens import create_token
    from storage import StorageError
    from storage.migrate import require_current
    from storage.pool import connect

    dsn = database_url(data_dir)

    async def create() -> str:
        conn = await connect(dsn)
        try:
            await require_current(conn)
            token = await create_token(conn, role=role, study=study, gateway_id=gateway,
                                       name=name)
            await conn.commit()
            return token
        finally:
            await conn.close()

    try:
        token = asyncio.run(create())
    except (ValueError, StorageError) as exc:
        fail(str(exc))
    except Exception as exc:
        fail(f"cannot create the token: {str(exc).splitlines()[0]}")
    print(token)


def _with_connection(data_dir: Path | None, work: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``work(conn)`` on a connection to a current schema, committing after it."""
    return run_on_database(data_dir, work)


@token_app.command("list")
def token_list(
    study: Annotated[str | None, typer.Option(help="Only this study's tokens.")] = None,
    include_revoked: Annotated[bool, typer.Option(help="Also revoked ones.")] = False,
    data_dir: DataDirOption = None,
) -> None:
    """List tokens (id, role, study, gateway, name, dates) as JSON lines; never secrets."""
    from storage.queries.tokens import list_tokens

    rows = _with_connection(data_dir, lambda conn: list_tokens(
        conn, study=study, include_revoked=include_revoked))
    for row in rows:
        print(json.dumps(dataclasses.asdict(row), default=str))


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[str, typer.Argument(help="The token's id (the hex after tw_).")],
    data_dir: DataDirOption = None,
) -> None:
    """Revoke a token at once; a running ingest service refuses it within a second."""
    from storage.queries.tokens import revoke_token

    if not _with_connection(data_dir, lambda conn: revoke_token(conn, token_id=token_id)):
        fail(f"no token {token_id} that is not already revoked")
    console.print(f"revoked {token_id}", highlight=False)
