"""A virtual home: one subject's set of wearables sharing one physiology and clock.

Devices attach to a radio through a factory (in-process :class:`VirtualRadio`, or a TCP
hub for a gateway in another process). Identity (serials, addresses) derives from the
seed, so a gateway config written for seed N matches the devices of seed N.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bumble.device import Device

from devices.catalog import DeviceType
from devices.sim.bp_cuff import BpCuff
from devices.sim.cgm_sensor import CgmSensor
from devices.sim.clock import SimClock
from devices.sim.ecg_patch import EcgPatch
from devices.sim.emission import EmissionSink
from devices.sim.glucose_meter import GlucoseMeter
from devices.sim.peripheral import VirtualWearable
from devices.sim.physiology import Physiology
from devices.sim.radio import VirtualController
from devices.sim.scenario import GroundTruth, Scenario, scenario
from devices.sim.smartwatch import Smartwatch

logger = logging.getLogger(__name__)

WEARABLES: dict[DeviceType, type[VirtualWearable]] = {
    DeviceType.ECG_PATCH: EcgPatch,
    DeviceType.CGM: CgmSensor,
    DeviceType.GLUCOSE_METER: GlucoseMeter,
    DeviceType.SMARTWATCH: Smartwatch,
    DeviceType.BP_CUFF: BpCuff,
}
DEFAULT_DEVICES = (DeviceType.ECG_PATCH, DeviceType.CGM, DeviceType.GLUCOSE_METER,
                   DeviceType.SMARTWATCH)
_PREFIX = {DeviceType.ECG_PATCH: "ECG", DeviceType.CGM: "CGM", DeviceType.GLUCOSE_METER: "BGM",
           DeviceType.SMARTWATCH: "WCH", DeviceType.BP_CUFF: "BPC"}

# (name, address) -> (bumble Device, its controller when in process)
DeviceFactory = Callable[[str, str], Awaitable[tuple[Device, VirtualController | None]]]


def serial_for(seed: int, device_type: DeviceType) -> str:
    return f"{_PREFIX[device_type]}-{seed:05d}"


def address_for(seed: int, device_type: DeviceType) -> str:
    """A static random address (two top bits set) unique per (seed, type)."""
    index = list(WEARABLES).index(device_type)
    raw = [0xC0 | (index & 0x3F), (seed >> 24) & 0xFF, (seed >> 16) & 0xFF, (seed >> 8) & 0xFF,
           seed & 0xFF, 0x5A]
    return ":".join(f"{b:02X}" for b in raw)


@dataclass
class HomeConfig:
    seed: int
    scenario: str = "baseline"
    speed: float = 1.0
    devices: tuple[DeviceType, ...] = DEFAULT_DEVICES
    start: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))
    glucose_meter_interval_s: float | None = None
    bp_interval_s: float | None = None
    # Wall-clock instant at which simulated time was ``start`` (default: when the home is
    # created). Lets another process (a gateway) share the clock, and a home start in the
    # past and catch up at ``speed``.
    real_start: datetime | None = None
    # False: Battery Level is readable only (notification is optional in BAS 1.0 §3.1),
    # as on devices whose gateway must poll it.
    battery_notifies: bool = True


class VirtualHome:
    def __init__(self, config: HomeConfig, factory: DeviceFactory, emit: EmissionSink) -> None:
        self.config = config
        self.factory = factory
        self.emit = emit
        self.scenario: Scenario = scenario(config.scenario)
        self.clock = SimClock(config.start, config.speed)
        if config.real_start is not None:
            behind = (datetime.now(UTC) - config.real_start).total_seconds()
            self.clock = SimClock(config.start, config.speed, time.monotonic() - behind)
        self.physiology = Physiology(config.seed, self.scenario, config.start)
        self.wearables: dict[DeviceType, VirtualWearable] = {}

    async def start(self) -> None:
        for device_type in self.config.devices:
            serial = serial_for(self.config.seed, device_type)
            address = address_for(self.config.seed, device_type)
            device, controller = await self.factory(serial, address)
            extra: dict[str, Any] = {}
            if device_type == DeviceType.GLUCOSE_METER and self.config.glucose_meter_interval_s:
                extra["interval_s"] = self.config.glucose_meter_interval_s
            if device_type == DeviceType.BP_CUFF and self.config.bp_interval_s:
                extra["interval_s"] = self.config.bp_interval_s
            wearable = WEARABLES[device_type](
                device=device, controller=controller, serial=serial, physiology=self.physiology,
                clock=self.clock, emit=self.emit, **extra)
            wearable.battery_notifies = self.config.battery_notifies
            await wearable.start()
            self.wearables[device_type] = wearable
            logger.info("advertising %s (%s) at %s", wearable.name, device_type, address)

    async def stop(self) -> None:
        for wearable in self.wearables.values():
            await wearable.stop()

    async def lose_links(self, duration_s: float) -> None:
        """Every wearable out of range for ``duration_s`` simulated seconds, then back
        (fault injection: the gateway sees a supervision timeout on every link)."""
        back_at = self.clock.t() + duration_s
        for wearable in self.wearables.values():
            await wearable.go_out_of_range()
        await self.clock.sleep_until(back_at)
        for wearable in self.wearables.values():
            await wearable.come_back()

    def ground_truth(self) -> list[GroundTruth]:
        return self.scenario.ground_truth(self.config.start)
