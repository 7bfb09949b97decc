"""``trialwire ingest``: the ingest service on its own (gateways upload over HTTPS)."""

from __future__ import annotations

from typing import Annotated

import typer

from deploy.cli.connections import database_url, kafka_settings
from deploy.cli.metrics import MetricsHostOption, MetricsPortOption
from deploy.cli.options import DataDirOption
from deploy.cli.output import console, fail

app = typer.Typer(help="The ingest service gateways upload to.", no_args_is_help=True)


@app.command()
def serve(
    data_dir: DataDirOption = None,
    host: Annotated[str, typer.Option(help="Address to bind (TLS terminates in front of "
                                           "it in production).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.")] = 8001,
    metrics_port: MetricsPortOption = None,
    metrics_host: MetricsHostOption = None,
    max_connections: Annotated[int, typer.Option(
        min=1, help="Open connections beyond this are answered 503 (each gateway holds "
                    "about two: an upload and a watermark long-poll).")] = 2000,
) -> None:
    """Serve the gateway routes (envelopes, watermarks, batch checks, status) until
    stopped."""
    from api.ingest import server
    from api.server import MetricsPortError
    from deploy.logs import configure_logging
    from storage import StorageError

    configure_logging("INFO", process="ingest")
    dsn = database_url(data_dir)
    kafka = kafka_settings(data_dir)
    console.print(f"ingest on http://{host}:{port}", highlight=False)
    try:
        server.run(host=host, port=port, dsn=dsn, kafka=kafka, metrics_port=metrics_port,
                   metrics_host=metrics_host or "127.0.0.1", max_connections=max_connections)
    except (StorageError, MetricsPortError) as exc:
        fail(str(exc))
