"""``trialwire eval``: whole-pipeline evaluations that print JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from deploy.cli.output import fail

app = typer.Typer(help="Whole-pipeline evaluations; each prints one JSON object.",
                  no_args_is_help=True)


@app.command()
def flags(
    scenarios: Annotated[str, typer.Option(
        help="Comma-separated scenarios (hypo, hyper, tachycardia, bradycardia, "
             "desaturation, af, fever, baseline).")] = "hypo,tachycardia,desaturation",
    seeds: Annotated[int, typer.Option(help="Homes (subjects) per scenario.")] = 3,
) -> None:
    """Run scenarios through the real pipeline; score flags against ground truth."""
    from deploy.eval.flags import run

    names = [s.strip() for s in scenarios.split(",") if s.strip()]
    if seeds < 1:
        fail("--seeds must be at least 1")
    try:
        result = run(names, seeds)
    except ValueError as exc:
        fail(str(exc))
    print(json.dumps(result, indent=2, default=str))


@app.command()
def chaos(
    faults: Annotated[str, typer.Option(
        help="Comma-separated faults, injected in this order: worker_sigkill, "
             "database_restart, broker_restart, gateway_sigkill, ble_link_loss, "
             "gateway_offline, poison_records, spool_overflow, hub_replaced, up_sighup, "
             "worker_freeze, overload.")] = ",".join(
        ("worker_sigkill", "database_restart", "broker_restart", "gateway_sigkill",
         "ble_link_loss", "gateway_offline", "poison_records", "spool_overflow",
         "hub_replaced", "up_sighup", "worker_freeze", "overload")),
    homes: Annotated[int, typer.Option(help="Simulated homes streaming throughout.")] = 3,
    speed: Annotated[float, typer.Option(help="Simulated seconds per real second.")] = 10.0,
    steady_s: Annotated[float, typer.Option(
        help="Real seconds of normal streaming before each fault and after the last.")] = 15.0,
    freeze_s: Annotated[float, typer.Option(
        help="worker_freeze: real seconds the stream worker stays stopped.")] = 600.0,
    overload_s: Annotated[float, typer.Option(
        help="overload: real seconds of 5x the homes with every core busy.")] = 300.0,
    keep: Annotated[Path | None, typer.Option(
        help="Keep servers' data and every process log in this directory.")] = None,
) -> None:
    """Inject faults into the whole running system; count readings lost or doubled."""
    from deploy.eval.chaos import run, to_json

    names = [f.strip() for f in faults.split(",") if f.strip()]
    if homes < 1:
        fail("--homes must be at least 1")
    if speed <= 0:
        fail("--speed must be positive")
    if steady_s < 0:
        fail("--steady-s must not be negative")
    if freeze_s <= 0:
        fail("--freeze-s must be positive")
    if overload_s <= 0:
        fail("--overload-s must be positive")
    try:
        result = run(names, homes=homes, speed=speed, steady_s=steady_s, freeze_s=freeze_s,
                     overload_s=overload_s, keep=keep)
    except (ValueError, TimeoutError) as exc:
        fail(str(exc))
    print(to_json(result))


@app.command("alerts")
def alerts_eval(
    flags: Annotated[int, typer.Option(help="Tachycardia flags raised (one subject each).")] = 12,
) -> None:
    """Flags through the worker and the alert dispatcher to a healthy webhook, a webhook
    that refuses each alert's first 3 tries and an SMTP inbox, with the worker and the
    dispatcher each SIGKILLed once; per channel delivered, duplicates, lost, p50/p99."""
    from deploy.eval.alerts import run

    if not 3 <= flags <= 200:
        fail("--flags must be between 3 and 200")
    print(json.dumps(run(flags=flags), indent=2, default=str))
