"""Base of every virtual wearable: a bumble GATT server built from the device catalog.

Subclasses produce data on the simulated clock (:meth:`produce`) and answer reads and
control-point writes; the base handles GATT construction, advertising, subscriptions,
notifications/indications and scripted link loss (device out of range: it drops its
links with "connection timeout" and stops advertising until the window ends).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

from bumble import gatt
from bumble.core import UUID, AdvertisingData
from bumble.device import Connection, Device

from devices.catalog import Access, DeviceSpec, DeviceType, Procedure, spec
from devices.gatt import battery, device_information
from devices.sim.air_delivery import AirDelivery, Outcome
from devices.sim.clock import DeviceClock, SimClock
from devices.sim.emission import Emission, EmissionSink
from devices.sim.physiology import Physiology
from devices.sim.radio import VirtualController
from devices.sim.scenario import EventKind

logger = logging.getLogger(__name__)

_PROPS = {Access.READ: gatt.Characteristic.Properties.READ,
          Access.WRITE: gatt.Characteristic.Properties.WRITE,
          Access.NOTIFY: gatt.Characteristic.Properties.NOTIFY,
          Access.INDICATE: gatt.Characteristic.Properties.INDICATE}
MANUFACTURER = "trialwire-sim"
FIRMWARE = "1.0.0"


class VirtualWearable(ABC):
    """One virtual device. ``serial`` is its identity; ``address`` its static random address."""

    device_type: ClassVar[DeviceType]

    def __init__(self, *, device: Device, controller: VirtualController | None, serial: str,
                 physiology: Physiology, clock: SimClock, emit: EmissionSink,
                 device_clock: DeviceClock | None = None) -> None:
        self.device = device
        self.controller = controller
        self.serial = serial
        self.physiology = physiology
        self.clock = clock
        self.emit = emit
        self.spec: DeviceSpec = spec(self.device_type)
        self.device_clock = device_clock or self._scenario_clock()
        self.name = f"{self.spec.model}-{serial[-4:]}"
        self.out_of_range = False
        self.malformed_next = 0  # send this many corrupt notifications (fault injection)
        self._chars: dict[str, gatt.Characteristic[Any]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._encrypted = Procedure.BOND in self.spec.procedures
        self.battery_notifies = True  # False: Battery Level without the Notify property
        self._air = AirDelivery(device.host)
        self._unconfirmed: set[Callable[[], None]] = set()  # indications awaiting confirmation
        self.unsent = 0  # notifications queued but flushed at a disconnect: never emitted
        self.unsent_by_metric: dict[str, int] = {}  # the same, by the metric of the values

    def _scenario_clock(self) -> DeviceClock:
        event = next((e for e in self.physiology.scenario.events
                      if e.kind == EventKind.CLOCK_DRIFT and e.device == self.device_type), None)
        return DeviceClock(drift_ppm=event.params.get("ppm", 0.0)) if event else DeviceClock()

    # -- GATT database ------------------------------------------------------------------

    def _services(self) -> list[gatt.Service]:
        services = []
        for service in self.spec.services:
            chars = []
            for char in service.characteristics:
                props = gatt.Characteristic.Properties(0)
                for access in char.access:
                    if access == Access.NOTIFY and char.uuid == self.uuid(battery.UUID_LEVEL) \
                            and not self.battery_notifies:
                        continue
                    props |= _PROPS[access]
                perms = gatt.Characteristic.READABLE | gatt.Characteristic.WRITEABLE
                if self._encrypted and service.uuid != self._dis_uuid:
                    perms = (gatt.Characteristic.READ_REQUIRES_ENCRYPTION
                             | gatt.Characteristic.WRITE_REQUIRES_ENCRYPTION)
                value = gatt.CharacteristicValue(
                    read=lambda conn, uuid=char.uuid: self._read(uuid, conn),
                    write=lambda conn, data, uuid=char.uuid: self._write(uuid, conn, data),
                )
                characteristic = gatt.Characteristic(UUID(char.uuid), props, perms, value)
                self._chars[char.uuid] = characteristic
                chars.append(characteristic)
            services.append(gatt.Service(UUID(service.uuid), chars))
        return services

    _dis_uuid = f"{device_information.UUID_SERVICE:08x}-0000-1000-8000-00805f9b34fb"

    def _read(self, uuid: str, _connection: Connection) -> bytes:
        try:
            return self.read_value(uuid)
        except KeyError:
            return b""

    def _write(self, uuid: str, connection: Connection, data: bytes) -> None:
        task = asyncio.get_running_loop().create_task(self.on_write(uuid, bytes(data), connection))
        self._tasks.append(task)

    def read_value(self, uuid: str) -> bytes:
        """Value of a readable characteristic; subclasses add theirs and call super()."""
        dis = {device_information.UUID_MANUFACTURER_NAME: MANUFACTURER,
               device_information.UUID_MODEL_NUMBER: self.spec.model,
               device_information.UUID_SERIAL_NUMBER: self.serial,
               device_information.UUID_FIRMWARE_REVISION: FIRMWARE}
        for short, text in dis.items():
            if uuid == f"{short:08x}-0000-1000-8000-00805f9b34fb":
                return text.encode()
        if uuid == self.uuid(battery.UUID_LEVEL):
            return bytes(battery.BatteryLevel(round(self.battery_level())))
        raise KeyError(uuid)

    async def on_write(self, uuid: str, data: bytes, connection: Connection) -> None:  # noqa: B027
        """Control-point writes; the default ignores them."""

    @staticmethod
    def uuid(short: int) -> str:
        return f"{short:08x}-0000-1000-8000-00805f9b34fb"

    # -- sending ------------------------------------------------------------------------

    def connected(self) -> bool:
        return not self.out_of_range and bool(self.device.connections)

    def subscribed(self, uuid: str) -> bool:
        char = self._chars[uuid]
        for cccds in self.device.gatt_server.subscribers.values():
            cccd = cccds.get(char.handle)
            if cccd and int.from_bytes(cccd, "little") & 0x3:
                return True
        return False

    async def send(self, uuid: str, payload: bytes,
                   emits: Sequence[tuple[str, int, float, float]] = ()) -> bool:
        """Notify or indicate (by the characteristic's properties); True if it went out.

        ``emits`` (metric, key, t, value) are recorded as emitted once the value is out:
        an indication when the central confirmed it, a notification when the controller
        took its last packet (:mod:`devices.sim.air_delivery`; one flushed unsent at a
        disconnect is counted in ``unsent``, not emitted). Sending is shielded, so
        cancelling a producer (stopping the device) never loses the record of something
        that was sent.
        """
        if not self.connected() or not self.subscribed(uuid):
            return False
        if self.malformed_next > 0:
            self.malformed_next -= 1
            payload = payload[:1]  # truncated: what a flaky sensor might send
            emits = ()
        return await asyncio.shield(asyncio.ensure_future(self._send_now(uuid, payload, emits)))

    async def _send_now(self, uuid: str, payload: bytes,
                        emits: Sequence[tuple[str, int, float, float]]) -> bool:
        char = self._chars[uuid]
        # Checked again right before sending: the central may have switched the CCCD off
        # since send() looked, and bumble then skips the value without an error.
        if not self.connected() or not self.subscribed(uuid):
            return False
        recorded = False

        def sent(in_doubt: bool = False) -> None:
            nonlocal recorded
            if not recorded:
                recorded = True
                for metric, key, t, value in emits:
                    self.record(metric, key, t, value, in_doubt=in_doubt)

        def unsent() -> None:
            self.unsent += len(emits)
            for metric, *_ in emits:
                self.unsent_by_metric[metric] = self.unsent_by_metric.get(metric, 0) + 1

        def in_doubt() -> None:
            sent(in_doubt=True)

        indication = bool(char.properties & gatt.Characteristic.Properties.INDICATE)
        try:
            if indication:
                # Until confirmed, it may or may not have reached the central: if the link
                # drops, or the device stops, first, it was sent in doubt.
                self._unconfirmed.add(in_doubt)
                await self.device.indicate_subscribers(char, payload)
                sent()
            else:
                with self._air.sending(Outcome(sent, in_doubt, unsent)):
                    await self.device.notify_subscribers(char, payload)
        except Exception as exc:  # the link dropped mid-send
            logger.debug("%s: send on %s failed: %s", self.name, uuid, exc)
            if indication:
                in_doubt()
            return False
        finally:
            self._unconfirmed.discard(in_doubt)
        return True

    def record(self, metric: str, key: int, t: float, value: float, *, stored: bool = False,
               in_doubt: bool = False) -> None:
        self.emit(Emission(device=self.serial, metric=metric, key=key, time=self.clock.at(t),
                           value=value, stored=stored, in_doubt=in_doubt))

    def battery_level(self) -> float:
        return self.physiology.battery(self.clock.t(), self.device_type.value)

    async def send_battery(self, t: float, counter: int) -> None:
        """Battery Level notification (all catalog devices have the Battery service)."""
        level = round(self.battery_level())
        await self.send(self.uuid(battery.UUID_LEVEL), bytes(battery.BatteryLevel(level)),
                        [("battery_level", counter, t, float(level))])

    # -- lifecycle ----------------------------------------------------------------------

    def advertising_data(self) -> bytes:
        short = int(self.spec.advertised_service[4:8], 16)
        return bytes(AdvertisingData([
            (AdvertisingData.COMPLETE_LOCAL_NAME, self.name.encode()),
            (AdvertisingData.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
             short.to_bytes(2, "little")),
        ]))

    async def start(self) -> None:
        await self.device.power_on()
        self._air.install()
        self.device.add_services(self._services())
        self.device.advertising_data = self.advertising_data()
        await self.device.start_advertising(auto_restart=True, advertising_interval_min=100,
                                            advertising_interval_max=100)
        self._tasks.append(asyncio.create_task(self.produce(), name=f"{self.name} produce"))
        self._tasks.append(asyncio.create_task(self._link_schedule(), name=f"{self.name} link"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        with contextlib.suppress(Exception):
            await self.device.stop_advertising()
        await self._drain_links()
        for connection in list(self.device.connections.values()):
            with contextlib.suppress(Exception):
                await connection.disconnect()
        for unconfirmed in list(self._unconfirmed):  # their confirmation can no longer come
            unconfirmed()

    async def go_out_of_range(self) -> None:
        """Drop every link (supervision timeout) and stop advertising."""
        self.out_of_range = True
        with contextlib.suppress(Exception):
            await self.device.stop_advertising()
        await self._drain_links()
        if self.controller is not None:
            self.controller.drop_links()
        else:  # remote controller: disconnect from the host side
            for connection in list(self.device.connections.values()):
                with contextlib.suppress(Exception):
                    await connection.disconnect(reason=0x13)

    async def _drain_links(self, timeout_s: float = 1.0) -> None:
        """Give the host up to ``timeout_s`` to hand its queued ACL packets to the
        controller before the link goes: what it still holds then is flushed, never sent
        (and never counted as emitted: :mod:`devices.sim.air_delivery`)."""
        for connection in list(self.device.connections.values()):
            host_connection = self.device.host.connections.get(connection.handle)
            if host_connection is None:
                continue
            with contextlib.suppress(Exception):  # already gone: nothing left to send
                async with asyncio.timeout(timeout_s):
                    await host_connection.acl_packet_queue.drain(connection.handle)

    async def come_back(self) -> None:
        self.out_of_range = False
        await self.device.start_advertising(auto_restart=True, advertising_interval_min=100,
                                            advertising_interval_max=100)

    async def _link_schedule(self) -> None:
        events = sorted((e for e in self.physiology.scenario.events
                         if e.kind == EventKind.LINK_LOSS and e.device == self.device_type),
                        key=lambda e: e.start_s)
        for event in events:
            await self.clock.sleep_until(event.start_s)
            logger.info("%s: out of range for %.0f s", self.name, event.end_s - event.start_s)
            await self.go_out_of_range()
            await self.clock.sleep_until(event.end_s)
            await self.come_back()
            logger.info("%s: back in range", self.name)

    @abstractmethod
    async def produce(self) -> None:
        """Generate and send data on the simulated clock until cancelled."""
