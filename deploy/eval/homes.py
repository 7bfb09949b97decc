"""Virtual homes with their gateways, in one process: every home's wearables and every
gateway share one in-process Bluetooth radio (addresses differ by seed), each gateway
using bleak over the bumble backend and uploading to the platform's broker."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bumble.device import Device
from psycopg import AsyncConnection

from devices.catalog import DeviceType
from devices.sim.emission import EmissionLog
from devices.sim.home import HomeConfig, VirtualHome, address_for, serial_for
from devices.sim.radio import VirtualController, VirtualRadio
from gateway.ble.bumble_backend import BumbleAdapter, BumbleClient, BumbleScanner, use_adapter
from gateway.runner import Gateway
from gateway.wallclock import ScaledClock
from storage import registry
from stream.contract.gateway_config import DeviceEntry, GatewayConfig
from stream.kafka.settings import KafkaSettings

STUDY = "EVAL"
SITE = "SITE-1"


def gateway_config(seed: int, devices: tuple[DeviceType, ...], *, study: str = STUDY,
                   **overrides: object) -> GatewayConfig:
    """The gateway of home ``seed``: ids derived from the seed, as the registry has them;
    uploading to Kafka directly unless ``upload="ingest"`` (with ``api_url``) is passed."""
    entries = [DeviceEntry(id=f"DEV-{serial_for(seed, t)}", type=t,
                           address=address_for(seed, t), serial=serial_for(seed, t))
               for t in devices]
    fields: dict[str, object] = {"gateway_id": f"GW-{seed:04d}", "study": study,
                                     "subject": f"S-{seed:04d}", "devices": entries,
                                     "batch_linger_ms": 200, "status_interval_s": 5.0,
                                     "upload": "kafka"}
    fields.update(overrides)
    return GatewayConfig(**fields)  # type: ignore[arg-type]


async def register(conn: AsyncConnection[object], config: GatewayConfig, *,
                   since: datetime, study_name: str = "Evaluation study") -> None:
    """Put a home's subject, gateway and devices in the registry, enrolled from ``since``
    (what is already there stays as it is)."""
    async with conn.transaction():
        await registry.create_study(conn, config.study, study_name)
        await registry.create_site(conn, config.study, SITE, "Evaluation site")
        await registry.create_subject(conn, config.study, SITE, config.subject)
        await registry.create_gateway(conn, config.study, config.gateway_id, SITE)
        for device in config.devices:
            await registry.create_device(conn, config.study, device.id, str(device.type),
                                         serial=device.serial)
            await registry.enroll(conn, study=config.study, subject=config.subject,
                                  device_id=device.id, gateway_id=config.gateway_id,
                                  start=since)


@dataclass
class Home:
    config: GatewayConfig
    home: VirtualHome
    gateway: Gateway
    log: EmissionLog


class Homes:
    """Several homes on one radio; start them together, stop them together."""

    def __init__(self, root: Path, kafka: KafkaSettings) -> None:
        self.root = root
        self.kafka = kafka
        self.radio = VirtualRadio()
        self.adapter: BumbleAdapter | None = None
        self.homes: list[Home] = []

    async def add(self, seed: int, *, scenario: str, speed: float,
                  devices: tuple[DeviceType, ...], start: datetime) -> Home:
        if self.adapter is None:
            self.adapter = await BumbleAdapter.on_device(
                self.radio.device("gateway", "F0:00:00:00:00:01"))
            use_adapter(self.adapter)
        radio = self.radio

        async def factory(name: str, address: str) -> tuple[Device, VirtualController]:
            return radio.device(name, address), radio.controller(address)

        log = EmissionLog()
        home = VirtualHome(HomeConfig(seed=seed, scenario=scenario, speed=speed,
                                      devices=devices, start=start,
                                      glucose_meter_interval_s=60.0), factory, log)
        await home.start()
        config = gateway_config(seed, devices)
        gateway = Gateway(config=config, kafka=self.kafka, data_dir=self.root / f"gw-{seed}",
                          scanner_backend=BumbleScanner, client_backend=BumbleClient,
                          clock=ScaledClock(home.clock.now(), speed))
        await gateway.start()
        entry = Home(config, home, gateway, log)
        self.homes.append(entry)
        return entry

    async def settle(self, timeout_s: float = 180.0) -> None:
        """Stop the wearables, then wait until every gateway's spool is empty (all its
        readings persisted: the platform's watermarks let the spool drop them)."""
        for entry in self.homes:
            await entry.home.stop()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while loop.time() < deadline:
            for entry in self.homes:
                await entry.gateway.writer.flush()
            if all(entry.gateway.spool.depth().items == 0 for entry in self.homes):
                return
            await asyncio.sleep(0.5)
        left = {e.config.gateway_id: e.gateway.spool.depth().items for e in self.homes}
        raise TimeoutError(f"spools not drained after {timeout_s} s: {left}")

    async def stop(self) -> None:
        for entry in self.homes:
            with contextlib.suppress(Exception):
                await entry.home.stop()
            await entry.gateway.stop()
        if self.adapter is not None:
            await self.adapter.close()
        use_adapter(None)


def default_start() -> datetime:
    """A simulated start in the past, so every scenario's data is in the past when scored."""
    now = datetime.now(UTC).replace(microsecond=0, second=0)
    return now - timedelta(days=1)
