"""``trialwire gateway``: run the home-gateway daemon, and inspect its status and spool.

Only typer, rich and the gateway's own light modules are imported at the top: this module
loads in a ``trialwire[gateway]`` install, which has no platform packages."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.live import Live
from rich.table import Table

from deploy.cli.metrics import MetricsHostOption, MetricsPortOption
from deploy.cli.options import DataDirOption, parse_utc
from deploy.cli.output import console, fail
from gateway.ble import Backend

if TYPE_CHECKING:
    from gateway.wallclock import Clock
    from stream.contract.gateway_config import GatewayConfig
    from stream.contract.status import GatewayStatus

app = typer.Typer(help="The home gateway: BLE capture, durable spool, upload.",
                  no_args_is_help=True)


ConfigOption = Annotated[Path, typer.Option("--config", help="Gateway config (YAML/JSON).",
                                            exists=False, dir_okay=False)]


def _config(path: Path) -> GatewayConfig:
    from gateway.config import load_config
    from gateway.errors import ConfigError

    try:
        return load_config(path)
    except ConfigError as exc:
        fail(str(exc))


def _status_line(status: GatewayStatus) -> Table:
    table = Table(box=None, show_header=False, pad_edge=False)
    connected = sum(1 for d in status.devices if d.connected)
    readings = sum(d.readings for d in status.devices)
    malformed = sum(sum(d.malformed.values()) for d in status.devices)
    dropped = sum(status.spool.dropped.values())
    broker = "[green]ok[/]" if status.upload.broker_reachable else "[red]unreachable[/]"
    table.add_row(
        f"[bold]{status.gateway_id}[/] devices {connected}/{len(status.devices)}",
        f"readings {readings}", f"spool {status.spool.items} items",
        f"sent {status.upload.batches_sent}", f"broker {broker}",
        f"malformed {malformed}", f"dropped {dropped}",
        f"unknown {len(status.unknown_devices)}")
    return table


@app.command()
def run(
    config_path: ConfigOption,
    backend: Annotated[Backend, typer.Option(help="bleak-default (BlueZ) on a real hub; bumble "
                                                  "for virtual wearables.")] = Backend.BLEAK_DEFAULT,
    hub: Annotated[str | None, typer.Option(help="HOST:PORT of the Bluetooth hub (bumble).")]
    = None,
    time_scale: Annotated[float, typer.Option(help="Simulated seconds per second (must match "
                                                   "the simulators).")] = 1.0,
    time_origin: Annotated[str | None, typer.Option(help="ISO UTC time the simulators started "
                                                         "(with --time-scale).")] = None,
    time_real_origin: Annotated[str | None, typer.Option(
        help="Wall-clock instant of --time-origin (default: the same instant).")] = None,
    data_dir: DataDirOption = None,
    metrics_port: MetricsPortOption = None,
    metrics_host: MetricsHostOption = None,
    log_level: Annotated[str, typer.Option(help="Python log level (TRIALWIRE_LOG_LEVEL "
                                                "overrides).")] = "WARNING",
) -> None:
    """Capture from the configured devices and upload, until Ctrl-C/SIGTERM."""
    from deploy.cli.connections import kafka_settings
    from deploy.logs import configure_logging
    from deploy.services import default_data_dir
    from gateway import daemon
    from gateway.enrollment import read_token
    from gateway.errors import ConfigError, MetricsPortError

    data_dir = data_dir or default_data_dir()
    config = _config(config_path)
    try:
        options = daemon.DaemonOptions(
            config=config, data_dir=data_dir, token=read_token(config),
            kafka=kafka_settings(data_dir) if config.upload == "kafka" else None,
            backend=backend, hub=hub, clock=_clock(time_scale, time_origin, time_real_origin),
            metrics_port=metrics_port, metrics_host=metrics_host or "127.0.0.1")
    except ConfigError as exc:
        fail(str(exc))
    configure_logging(log_level, process="gateway")
    try:
        if not sys.stderr.isatty():
            daemon.run(options)
            return
        with Live(console=console, refresh_per_second=2) as live:
            daemon.run(options, lambda status: live.update(_status_line(status)))
    except MetricsPortError as exc:
        fail(str(exc))


def _clock(time_scale: float, time_origin: str | None,
           time_real_origin: str | None) -> Clock | None:
    """The simulated clock shared with the simulators, or None for the system clock."""
    from gateway.wallclock import ScaledClock

    if time_scale == 1.0 and not time_origin:
        return None
    if not time_origin:
        fail("--time-scale needs --time-origin (the simulators' start, ISO UTC)")
    origin = parse_utc(time_origin, "--time-origin")
    real_origin = (parse_utc(time_real_origin, "--time-real-origin") if time_real_origin
                   else origin)
    return ScaledClock(origin, time_scale, real_origin=real_origin)


@app.command()
def enroll(
    api: Annotated[str, typer.Option(help="The platform API, e.g. https://trial.example.org")],
    token: Annotated[str, typer.Option(help="The single-use enrollment token (te_...).")],
    out: Annotated[Path, typer.Option(help="Where to write the gateway config.")] = Path(
        "gateway.yaml"),
) -> None:
    """Exchange an enrollment token for this gateway's config and API token."""
    from gateway.enrollment import EnrollmentFailed, exchange, save

    try:
        config, api_token = exchange(api, token)
    except EnrollmentFailed as exc:
        fail(str(exc))
    token_path = save(config, api_token, out, api)
    console.print(f"enrolled [bold]{config.gateway_id}[/] for subject {config.subject} with "
                  f"{len(config.devices)} device(s): config {out}, API token {token_path} (0600)",
                  highlight=False)


@app.command()
def status(config_path: ConfigOption, data_dir: DataDirOption = None) -> None:
    """The running (or last) gateway's status, as JSON."""
    import msgspec

    from deploy.services import default_data_dir
    from gateway.runner import spool_path
    from stream.contract import status as status_codec

    config = _config(config_path)
    path = spool_path(config, data_dir or default_data_dir()).with_name("status.json")
    if not path.exists():
        fail(f"no status yet at {path}: is the gateway running?")
    current = status_codec.decode(path.read_bytes())
    print(msgspec.json.format(msgspec.json.encode(current), indent=2).decode())


@app.command()
def spool(
    config_path: ConfigOption,
    data_dir: DataDirOption = None,
    device: Annotated[str | None, typer.Option(help="Only this device id.")] = None,
    limit: Annotated[int, typer.Option(help="How many newest items.")] = 20,
) -> None:
    """Inspect the spool: depth, drops, per-device watermarks and the newest items."""
    from deploy.services import default_data_dir
    from gateway.runner import spool_path
    from gateway.spool import Spool

    config = _config(config_path)
    path = spool_path(config, data_dir or default_data_dir())
    if not path.exists():
        fail(f"no spool at {path}")
    store = Spool(path, budget_bytes=int(config.spool_budget_mb * 1024 * 1024))
    try:
        depth = store.depth()
        summary = {"items": depth.items, "unbatched": depth.unbatched,
                   "batches_unacknowledged": depth.batches_built,
                   "batches_unpersisted": depth.batches_sent, "used_bytes": depth.used_bytes,
                   "budget_bytes": depth.budget_bytes, "dropped": depth.dropped,
                   "duplicate_records": depth.duplicates,
                   "devices": {d.id: {"persisted_through": store.persisted_through(d.id),
                                      "racp_cursor": store.racp_cursor(d.id)}
                               for d in config.devices}}
        print(json.dumps(summary, indent=2))
        for device_id, gseq, kind, batch_id, payload in store.items(device, limit):
            item = json.loads(payload)
            what = (f"{item.get('metric')}={item.get('value')}" if kind == "reading"
                    else f"{len(item.get('samples', []))} samples")
            print(f"{device_id} #{gseq} {kind} {what} batch={batch_id or '-'}")
    finally:
        store.close()
