"""The gateway daemon's assembly: Bluetooth backend, the :class:`~gateway.runner.Gateway`,
metrics, signal handling and a clean stop. ``trialwire gateway run`` and ``python -m
gateway`` both call :func:`run`; neither holds wiring of its own."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY, start_http_server

from gateway.ble import Backend
from gateway.errors import ConfigError, MetricsPortError
from gateway.metrics import GatewayCollector
from gateway.runner import Gateway, check_upload_settings, spool_path
from gateway.wallclock import Clock
from stream.contract.gateway_config import GatewayConfig
from stream.contract.status import GatewayStatus
from stream.kafka.settings import KafkaSettings

if TYPE_CHECKING:
    from gateway.ble.bumble_backend import BumbleAdapter

StatusView = Callable[[GatewayStatus], None]
"""Called about once a second with the current status (the CLI's live line)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DaemonOptions:
    """Everything one gateway process needs, resolved by its caller."""

    config: GatewayConfig
    kafka: KafkaSettings | None  # upload: kafka only
    data_dir: Path
    token: str | None = None  # upload: ingest (read from the config's api_token_file)
    backend: Backend = Backend.BLEAK_DEFAULT
    hub: str | None = None  # HOST:PORT of the Bluetooth hub (bumble only)
    clock: Clock | None = None
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"

    def __post_init__(self) -> None:
        if self.backend is Backend.BUMBLE and self.hub is None:
            raise ConfigError("the bumble backend needs a hub HOST:PORT (see `trialwire sim hub`)")
        check_upload_settings(self.config, self.kafka, self.token)


def run(options: DaemonOptions, status_view: StatusView | None = None) -> None:
    """Capture and upload until SIGINT/SIGTERM; returns after a clean stop."""
    asyncio.run(serve(options, status_view))


async def serve(options: DaemonOptions, status_view: StatusView | None = None) -> None:
    """The daemon's body on the running loop (see :func:`run`)."""
    adapter, scanner, client = await _open_backend(options)
    gateway = Gateway(config=options.config, kafka=options.kafka, data_dir=options.data_dir,
                      scanner_backend=scanner, client_backend=client, clock=options.clock,
                      token=options.token)
    if options.metrics_port is not None:
        REGISTRY.register(GatewayCollector(gateway.status))
        try:
            start_http_server(options.metrics_port, addr=options.metrics_host)
        except OSError as exc:
            raise MetricsPortError(f"cannot serve metrics on {options.metrics_host}:"
                                   f"{options.metrics_port}: {exc.strerror or exc}") from exc
    stop = _stop_on_signals()
    await gateway.start()
    print(json.dumps({"gateway": options.config.gateway_id,  # noqa: T201 (readiness line)
                      "devices": len(options.config.devices),
                      "spool": str(spool_path(options.config, options.data_dir))}), flush=True)
    try:
        await _wait(stop, gateway, status_view)
    finally:
        await gateway.stop()
        if adapter is not None:
            await adapter.close()


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def _wait(stop: asyncio.Event, gateway: Gateway, status_view: StatusView | None) -> None:
    if status_view is None:
        await stop.wait()
        return
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
        status_view(await asyncio.to_thread(gateway.status))


async def _open_backend(options: DaemonOptions) -> tuple[BumbleAdapter | None, type | None,
                                                         type | None]:
    """(adapter, scanner class, client class); all None for bleak's default backend."""
    if options.backend is Backend.BLEAK_DEFAULT:
        return None, None, None
    # Imported here: bumble is not installed on a real gateway (extra "gateway").
    from gateway.ble.bumble_backend import (
        BumbleAdapter,
        BumbleClient,
        BumbleScanner,
        static_address_for,
        use_adapter,
    )

    assert options.hub is not None  # checked in DaemonOptions
    adapter = await BumbleAdapter.open_hub(
        options.hub, static_address_for(f"gateway {options.config.gateway_id}"))
    use_adapter(adapter)
    return adapter, BumbleScanner, BumbleClient
