"""``trialwire api``: serve the study database API; create access tokens."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from pydantic import SecretStr

from api.auth.roles import Role
from api.auth.tokens import create_token
from deploy.cli.connections import database_url, resolved_kafka_settings
from deploy.cli.options import DataDirOption
from deploy.cli.output import console, fail
from deploy.services import ServiceError
from storage import StorageError
from storage.migrate import require_current
from storage.pool import connect

app = typer.Typer(help="The study database API.", no_args_is_help=True)


@app.command()
def serve(
    data_dir: DataDirOption = None,
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8000,
) -> None:
    """Serve the API (OpenAPI at /docs) until stopped."""
    import uvicorn

    from api.main import create_app
    from storage.settings import DatabaseSettings

    dsn = database_url(data_dir)
    asyncio.run(_require_schema(dsn))
    kafka = None
    try:
        kafka = resolved_kafka_settings(data_dir)
    except ServiceError as exc:
        console.print(f"[yellow]HTTP ingest off[/]: {exc}", highlight=False)
    console.print(f"API on http://{host}:{port} (OpenAPI: /docs)", highlight=False)
    uvicorn.run(create_app(DatabaseSettings(url=SecretStr(dsn)), kafka), host=host, port=port,
                log_level="info")


async def _require_schema(dsn: str) -> None:
    conn = await connect(dsn)
    try:
        await require_current(conn)
    except StorageError as exc:
        fail(str(exc))
    finally:
        await conn.close()


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
