"""The ``trialwire`` command: one Typer app assembled from per-area sub-apps."""

from __future__ import annotations

import signal
import sys
from types import FrameType

import typer

from deploy.cli import (
    api,
    bench,
    db,
    decode,
    eval,
    gateway,
    services,
    sim,
    stream,
    topics,
    up,
)
from deploy.cli.output import console, fail

app = typer.Typer(
    name="trialwire",
    help="Wearable data ingestion for decentralized clinical trials.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(services.app, name="services")
app.add_typer(db.app, name="db")
app.add_typer(bench.app, name="bench")
app.add_typer(sim.app, name="sim")
app.add_typer(gateway.app, name="gateway")
app.add_typer(topics.app, name="topics")
app.add_typer(stream.app, name="stream")
app.add_typer(eval.app, name="eval")
app.add_typer(api.app, name="api")
app.command(name="decode")(decode.command)
app.command(name="up")(up.command)


@app.command()
def version() -> None:
    """Print the installed trialwire version."""
    from importlib.metadata import version as dist_version

    console.print(f"trialwire {dist_version('trialwire')}")


def _sigterm_as_exit(signum: int, _frame: FrameType | None) -> None:
    # Turn SIGTERM into SystemExit so `finally` blocks stop what we started.
    raise SystemExit(128 + signum)


def main() -> None:
    """Console-script entry point."""
    signal.signal(signal.SIGTERM, _sigterm_as_exit)
    try:
        app()
    except KeyboardInterrupt:
        fail("interrupted", code=130)
    except BrokenPipeError:
        sys.exit(0)
