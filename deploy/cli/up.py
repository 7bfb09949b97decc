"""``trialwire up``: the platform and simulated homes on this machine, until Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import signal
import sys
from typing import Annotated

import typer
from rich.live import Live
from rich.text import Text

from deploy.cli.options import DataDirOption
from deploy.cli.output import console, fail
from deploy.eval.flags import SETUPS
from deploy.services import ServiceError, default_data_dir
from deploy.services.ports import port_is_free
from deploy.up.stack import UpStack
from deploy.up.status import StatusProbe
from storage.pool import connect


def command(
    homes: Annotated[int, typer.Option(help="Simulated homes (a subject, wearables and a "
                                            "gateway each).")] = 3,
    scenario: Annotated[str | None, typer.Option(
        help=f"Scripted events for the first home, so flags appear within minutes: "
             f"{', '.join(sorted(SETUPS))}.")] = None,
    data_dir: DataDirOption = None,
    api_port: Annotated[int, typer.Option(help="Port of the API and web page on 127.0.0.1.")]
    = 8000,
    webhook: Annotated[str | None, typer.Option(
        help="Send the demo study's flags (low severity and up) to this URL as signed "
             "webhooks; the signing secret is printed.")] = None,
) -> None:
    """Start PostgreSQL, the broker, the stream worker, the API with the monitoring page and
    simulated homes; print the web address and a monitor token; Ctrl-C stops everything."""
    if homes < 1:
        fail("--homes must be at least 1")
    if scenario is not None and scenario not in SETUPS:
        fail(f"unknown scenario {scenario!r}; choose from {', '.join(sorted(SETUPS))}")
    if not port_is_free(api_port):
        fail(f"port {api_port} is in use; pick another with --api-port")
    if webhook is not None and not webhook.startswith(("http://", "https://")):
        fail("--webhook must be an http(s) URL")
    stack = UpStack(data_dir or default_data_dir(), homes, scenario, api_port,
                    report=lambda m: console.print(f"[up] {m}", highlight=False, markup=False),
                    webhook=webhook)
    try:
        asyncio.run(_run(stack))
    except (ServiceError, RuntimeError) as exc:
        fail(str(exc))


async def _run(stack: UpStack) -> None:
    """Run until Ctrl-C, SIGTERM, or the terminal going away (SIGHUP, or a closed output
    pipe); whichever it is, every child is stopped before returning: the children run in
    sessions of their own (so a Ctrl-C reaches only this process), and nothing else would
    stop them."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stack.start()
        print(json.dumps(stack.describe()), flush=True)  # stdout: for scripts
        console.print(f"\nweb page: [bold]{stack.web_url}[/]  study {stack.describe()['study']}"
                      f"\nmonitor token: [bold]{stack.token}[/]\nCtrl-C stops everything.\n")
        if stack.webhook_secret:
            console.print(f"webhook signing key: [bold]{stack.webhook_secret}[/]\n")
        await _watch(stack, stop)
    except OSError as exc:  # output gone (BrokenPipeError, EIO): stop all the same
        _detach_output()
        stop.set()
        if not isinstance(exc, BrokenPipeError | ConnectionError) and exc.errno != errno.EIO:
            raise
    finally:
        _say("[up] stopping ...")
        await asyncio.to_thread(stack.stop)
        _say("[up] stopped")


def _say(message: str) -> None:
    """A progress line that cannot stop the shutdown when the terminal is gone."""
    try:
        console.print(message, markup=False, highlight=False)
    except OSError:
        _detach_output()


def _detach_output() -> None:
    """Point stdout and stderr at /dev/null: the reader went away, and the interpreter
    would otherwise fail again flushing them at exit."""
    null = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            os.dup2(null, stream.fileno())
    os.close(null)


async def _watch(stack: UpStack, stop: asyncio.Event) -> None:
    """Advance the homes' phases and show the status line until ``stop``."""
    assert stack.kafka is not None
    probe = StatusProbe(stack.metrics_port, stack.kafka.topics.raw_readings)
    conn = await connect(stack.dsn)
    live = Live(Text("starting ..."), console=console, refresh_per_second=1,
                transient=True) if sys.stderr.isatty() else None
    try:
        with live or contextlib.nullcontext():
            ticks = 0
            while not stop.is_set():
                stack.tick()
                line = (await probe.read(conn)).line()
                if live is not None:
                    live.update(Text(line))
                elif ticks % 15 == 0:  # not a terminal (a log): every 30 s
                    console.print(f"[up] {line}", highlight=False, markup=False)
                ticks += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 2.0)
    finally:
        await conn.close()
