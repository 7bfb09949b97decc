"""The API server's assembly: schema check, the FastAPI app, the metrics endpoint and
uvicorn. ``trialwire api serve`` and ``python -m api`` both call :func:`run`."""

from __future__ import annotations

import asyncio

import uvicorn
from prometheus_client import start_http_server
from pydantic import SecretStr

from api.http_edge import server_config
from api.main import create_app
from api.settings import ApiSettings
from storage.migrate import require_current
from storage.pool import connect
from storage.settings import DatabaseSettings
from stream.kafka.settings import KafkaSettings


class MetricsPortError(OSError):
    """The Prometheus endpoint could not bind its address."""

    reason = "metrics_port_unavailable"


async def require_schema(dsn: str) -> str:
    """The storage mode of a database whose schema is current (else StorageError)."""
    conn = await connect(dsn)
    try:
        return await require_current(conn)
    finally:
        await conn.close()


def run(*, settings: ApiSettings, dsn: str, kafka: KafkaSettings | None) -> None:
    """Serve until stopped; ``kafka`` None turns the HTTP ingest off."""
    asyncio.run(require_schema(dsn))
    if settings.metrics_port is not None:
        try:
            start_http_server(settings.metrics_port, addr=settings.metrics_host)
        except OSError as exc:
            raise MetricsPortError(f"cannot serve metrics on {settings.metrics_host}:"
                                   f"{settings.metrics_port}: {exc.strerror or exc}") from exc
    app = create_app(DatabaseSettings(url=SecretStr(dsn)), kafka, settings)
    uvicorn.Server(server_config(app, host=settings.host, port=settings.port,
                                 max_connections=settings.max_connections)).run()
