"""``--metrics-port`` / ``--metrics-host`` of the long-running commands: Prometheus
``/metrics`` on its own small HTTP server (a thread), apart from any API routes."""

from __future__ import annotations

from typing import Annotated

import typer
from prometheus_client import REGISTRY, start_http_server
from prometheus_client.registry import CollectorRegistry

from deploy.cli.output import fail

MetricsPortOption = Annotated[int | None, typer.Option(
    help="Serve Prometheus metrics on HOST:PORT/metrics (off when not given).")]
MetricsHostOption = Annotated[str | None, typer.Option(
    help="Address of the metrics server (default 127.0.0.1; 0.0.0.0 in a container).")]


def serve_metrics(port: int | None, host: str | None = None, *,
                  registry: CollectorRegistry = REGISTRY) -> None:
    """Start the metrics server when a port is given; a clear error when it cannot bind."""
    if port is None:
        return
    try:
        start_http_server(port, addr=host or "127.0.0.1", registry=registry)
    except OSError as exc:
        fail(f"cannot serve metrics on {host or '127.0.0.1'}:{port}: {exc.strerror or exc}")
