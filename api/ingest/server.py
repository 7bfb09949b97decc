"""The ingest service's assembly: schema check, the ingest app, the metrics endpoint and
uvicorn. ``trialwire ingest serve`` calls :func:`run`."""

from __future__ import annotations

import asyncio

import uvicorn
from prometheus_client import start_http_server
from pydantic import SecretStr

from api.http_edge import MAX_CONNECTIONS, server_config
from api.ingest.app import create_ingest_app
from api.server import MetricsPortError, require_schema
from storage.settings import DatabaseSettings
from stream.kafka.settings import KafkaSettings


def run(*, host: str, port: int, dsn: str, kafka: KafkaSettings,
        metrics_port: int | None = None, metrics_host: str = "127.0.0.1",
        max_connections: int = MAX_CONNECTIONS) -> None:
    """Serve until stopped."""
    asyncio.run(require_schema(dsn))
    if metrics_port is not None:
        try:
            start_http_server(metrics_port, addr=metrics_host)
        except OSError as exc:
            raise MetricsPortError(f"cannot serve metrics on {metrics_host}:{metrics_port}: "
                                   f"{exc.strerror or exc}") from exc
    app = create_ingest_app(DatabaseSettings(url=SecretStr(dsn)), kafka)
    # No access log: a line per upload would cost more than the upload's own checks;
    # requests are counted by route and status in the metrics.
    uvicorn.Server(server_config(app, host=host, port=port, max_connections=max_connections,
                                 access_log=False)).run()
