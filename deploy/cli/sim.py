"""``trialwire sim``: virtual wearables on a Bluetooth hub, until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import msgspec
import typer
from rich.table import Table

from deploy.cli.options import parse_utc
from deploy.cli.output import console, fail
from devices.catalog import CATALOG, DeviceType
from devices.sim.emission import EmissionLog, unsent_path
from devices.sim.home import DEFAULT_DEVICES, HomeConfig, VirtualHome
from devices.sim.hub import BluetoothHub, RemoteRadio
from devices.sim.scenario import SCENARIOS

logger = logging.getLogger(__name__)

app = typer.Typer(help="Virtual wearables (bumble peripherals) for gateways without a radio.",
                  invoke_without_command=True)


def _print_catalog() -> None:
    devices = Table(title="device types")
    for column in ("type", "model", "services", "procedures"):
        devices.add_column(column)
    for device_type, device_spec in CATALOG.items():
        devices.add_row(device_type.value, device_spec.model,
                        ", ".join(s.name for s in device_spec.services),
                        ", ".join(sorted(p.value for p in device_spec.procedures)) or "-")
    scenarios = Table(title="scenarios")
    for column in ("name", "minutes", "description"):
        scenarios.add_column(column)
    for scenario in SCENARIOS.values():
        scenarios.add_row(scenario.name, f"{scenario.duration_s / 60:.0f}", scenario.description)
    console.print(devices)
    console.print(scenarios)


@app.callback()
def main(
    ctx: typer.Context,
    list_: Annotated[bool, typer.Option("--list", help="Show device types and scenarios.")] = False,
) -> None:
    """Run virtual wearables; see `trialwire sim run --help`."""
    if list_:
        _print_catalog()
        raise typer.Exit(0)
    if ctx.invoked_subcommand is None:
        console.print(ctx.get_help())


async def _wait_for_signal() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()


@app.command()
def hub(port: Annotated[int, typer.Option(help="TCP port on 127.0.0.1 (0 = any).")] = 0) -> None:
    """Run only the Bluetooth hub that wearable and gateway processes connect to."""

    async def run() -> None:
        bluetooth = BluetoothHub()
        bound = await bluetooth.start(port=port)
        print(json.dumps({"hub": f"127.0.0.1:{bound}"}), flush=True)
        try:
            await _wait_for_signal()
        finally:
            await bluetooth.stop()

    asyncio.run(run())


def _parse_devices(text: str) -> tuple[DeviceType, ...]:
    try:
        return tuple(DeviceType(part.strip()) for part in text.split(",") if part.strip())
    except ValueError as exc:
        fail(f"{exc}; known: {', '.join(t.value for t in DeviceType)}")


@app.command()
def run(
    hub_address: Annotated[
        str | None, typer.Option("--hub", help="HOST:PORT of a running hub; default: start one.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Subject seed (identity and physiology).")] = 1,
    scenario: Annotated[str, typer.Option(help="Scenario name (see --list).")] = "baseline",
    speed: Annotated[float, typer.Option(help="Simulated seconds per real second.")] = 1.0,
    devices: Annotated[str, typer.Option(help="Comma-separated device types.")] = ",".join(
        d.value for d in DEFAULT_DEVICES),
    emissions: Annotated[
        Path | None, typer.Option(help="Append every emitted reading here (JSON lines).")
    ] = None,
    ground_truth: Annotated[
        Path | None, typer.Option(help="Write the scenario's ground-truth events here (JSON).")
    ] = None,
    meter_interval_s: Annotated[
        float | None, typer.Option(help="Simulated seconds between finger sticks (default 3 h).")
    ] = None,
    start: Annotated[
        str | None, typer.Option(help="Simulated start, ISO with time zone (default: now).")
    ] = None,
    real_start: Annotated[
        str | None, typer.Option(help="Wall-clock instant of the simulated start (default: "
                                      "now); with --start in the past, the home catches up.")
    ] = None,
    link_loss_s: Annotated[
        float, typer.Option(help="Fault injection: on SIGUSR1 every device goes out of range "
                                 "for this many simulated seconds.")
    ] = 120.0,
) -> None:
    """Run one virtual home's wearables until Ctrl-C/SIGTERM, printing what they advertise."""
    if scenario not in SCENARIOS:
        fail(f"unknown scenario {scenario!r}; known: {', '.join(sorted(SCENARIOS))}")
    if speed <= 0:
        fail("--speed must be positive")
    config = HomeConfig(seed=seed, scenario=scenario, speed=speed, devices=_parse_devices(devices),
                        glucose_meter_interval_s=meter_interval_s,
                        real_start=parse_utc(real_start, "--real-start") if real_start else None)
    if start:
        config = replace(config, start=parse_utc(start, "--start"))

    async def main_async() -> None:
        local_hub = None
        address = hub_address
        if address is None:
            local_hub = BluetoothHub()
            address = f"127.0.0.1:{await local_hub.start()}"
        radio = RemoteRadio(address)
        log = EmissionLog(emissions)
        home = VirtualHome(config, radio.device, log)
        try:
            await home.start()
            print(json.dumps({"hub": address, "start": config.start.isoformat(), "devices": [
                {"type": t.value, "name": w.name, "serial": w.serial,
                 "address": str(w.device.random_address).split("/")[0]}
                for t, w in home.wearables.items()]}), flush=True)
            if ground_truth is not None:
                ground_truth.write_bytes(msgspec.json.format(
                    msgspec.json.encode(home.ground_truth()), indent=2))
            losses: set[asyncio.Task[None]] = set()

            def lose_links() -> None:
                task = asyncio.create_task(home.lose_links(link_loss_s))
                losses.add(task)
                task.add_done_callback(losses.discard)

            asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, lose_links)
            await _wait_for_signal()
        finally:
            with contextlib.suppress(Exception):
                await home.stop()
            await radio.close()
            log.close()
            unsent = {w.serial: w.unsent for w in home.wearables.values() if w.unsent}
            if unsent:
                logger.warning("notifications queued but never sent (flushed at a "
                               "disconnect, not counted as emitted): %s", unsent)
            if emissions is not None:
                unsent_path(emissions).write_bytes(msgspec.json.encode(unsent))
            if local_hub is not None:
                await local_hub.stop()

    asyncio.run(main_async())
