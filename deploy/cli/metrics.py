"""``--metrics-port`` / ``--metrics-host`` of the long-running commands: Prometheus
``/metrics`` on its own small HTTP server (a thread), apart from any API routes; each
deployable's assembly (gateway.daemon, stream.worker, api.server) starts it."""

from __future__ import annotations

from typing import Annotated

import typer

MetricsPortOption = Annotated[int | None, typer.Option(
    help="Serve Prometheus metrics on HOST:PORT/metrics (off when not given).")]
MetricsHostOption = Annotated[str | None, typer.Option(
    help="Address of the metrics server (default 127.0.0.1; 0.0.0.0 in a container).")]
