"""A bleak backend on a bumble host, so the gateway drives virtual wearables through
bleak's public API alone (``BleakScanner(backend=BumbleScanner)``,
``BleakClient(..., backend=BumbleClient)``) over real ATT/GATT.

One :class:`BumbleAdapter` per process owns the central bumble Device, attached either
to an in-process :class:`~devices.sim.radio.VirtualRadio` (tests) or to a TCP hub shared
with simulator processes. What bleak expects of a backend, and the bumble pitfalls this
handles (serialised connects; UUIDs as lowercase 128-bit strings; ATT errors mapped to
``BleakGATTProtocolError``) are listed in ``shared/bleak-bumble.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

from bleak.args import SizedBuffer
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakDeviceNotFoundError, BleakError, BleakGATTProtocolError
from bumble import att, core, hci
from bumble.core import UUID, AdvertisingData, PhysicalTransport
from bumble.device import Advertisement, Connection, Device, Peer
from bumble.gatt_client import CharacteristicProxy
from bumble.transport import open_transport
from bumble.transport.common import Transport

logger = logging.getLogger(__name__)

CCCD_UUID = "00002902-0000-1000-8000-00805f9b34fb"
DEFAULT_MTU = 517
CLOSE_STEP_S = 2.0  # per step of close(): three steps stay well inside a 10 s stop
_PROPERTY_NAMES = {0x01: "broadcast", 0x02: "read", 0x04: "write-without-response",
                   0x08: "write", 0x10: "notify", 0x20: "indicate",
                   0x40: "authenticated-signed-writes", 0x80: "extended-properties"}


def uuid_str(uuid: UUID) -> str:
    """bumble UUID → bleak's lowercase 128-bit string."""
    raw = uuid.to_bytes(force_128=True)[::-1].hex()
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"


@contextlib.contextmanager
def _att_errors() -> Iterator[None]:
    """bumble's errors as bleak's: an ATT error response as the protocol error (with the
    ATT error code), a GATT timeout as the builtin ``TimeoutError`` (what bleak raises on
    BlueZ), anything else of bumble's as ``BleakError``. bumble's own ``TimeoutError`` is
    not the builtin one: unmapped, it escaped every caller written for bleak."""
    try:
        yield
    except att.ATT_Error as exc:
        raise BleakGATTProtocolError(exc.error_code) from exc
    except core.TimeoutError as exc:
        raise TimeoutError(str(exc)) from exc
    except core.BaseBumbleError as exc:
        raise BleakError(str(exc)) from exc


def static_address_for(name: str) -> str:
    """A stable random static Bluetooth address for ``name`` (e.g. a gateway id): the
    two top bits set, as the Core spec (Vol 6, Part B, 1.3.2.1) requires of one."""
    raw = bytearray(hashlib.sha256(name.encode()).digest()[:6])
    raw[0] |= 0xC0
    return ":".join(f"{b:02X}" for b in raw)


def address_str(address: hci.Address) -> str:
    return str(address).split("/")[0]


class BumbleAdapter:
    """The gateway's central: one bumble Device, shared by all scanners and clients."""

    def __init__(self, device: Device, transport: Transport | None = None) -> None:
        self.device = device
        self.transport = transport
        self.connect_lock = asyncio.Lock()  # one pending LE connection per bumble Device
        self._scanners: set[BumbleScanner] = set()
        self._scanning = False
        self.last_advertisements: dict[str, Advertisement] = {}
        device.on(Device.EVENT_ADVERTISEMENT, self._on_advertisement)
        # Between the host and the device's own handler: see _on_le_connection.
        device.host.remove_listener("le_connection", device.on_le_connection)
        device.host.on("le_connection", self._on_le_connection)

    # -- orphaned connections -------------------------------------------------------------

    def _on_le_connection(self, handle: int, peer_address: hci.Address, *rest: Any) -> None:
        """A link completed as central while no connect is in progress (the connect that
        asked for it was cancelled before the controller completed it) is refused at once.

        bumble's device cannot take it (it asserts that a connect is in progress), so it
        would stay up on the wearable's side only, and the wearable, which stops
        advertising while connected, could never be found again.
        """
        role = rest[2]
        if role == hci.Role.CENTRAL and self.device.connect_own_address_type is None:
            logger.warning("refusing a link to %s no connect is waiting for",
                           address_str(peer_address))
            task = asyncio.ensure_future(self.device.send_async_command(
                hci.HCI_Disconnect_Command(
                    connection_handle=handle,
                    reason=hci.HCI_REMOTE_USER_TERMINATED_CONNECTION_ERROR)))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())
            return
        self.device.on_le_connection(handle, peer_address, *rest)

    @classmethod
    async def open_hub(cls, hub_address: str, address: str = "F0:00:00:00:00:01") -> BumbleAdapter:
        """Attach to a hub on ``HOST:PORT`` (``trialwire sim hub`` or ``sim run``). Every
        central on one hub needs its own ``address`` (:func:`static_address_for`): the hub
        routes link packets by address, so two gateways sharing one steal each other's
        connections."""
        transport = await open_transport(f"tcp-client:{hub_address}")
        device = Device.with_hci("trialwire-gateway",
                                 hci.Address(address, hci.Address.RANDOM_DEVICE_ADDRESS),
                                 transport.source, transport.sink)
        adapter = cls(device, transport)
        await device.power_on()
        return adapter

    @classmethod
    async def on_device(cls, device: Device) -> BumbleAdapter:
        """Wrap an existing bumble Device (e.g. from an in-process VirtualRadio)."""
        adapter = cls(device)
        await device.power_on()
        return adapter

    async def close(self) -> None:
        """End links, scanning and the transport, each step bounded: a peer that vanished
        never answers a disconnect, and a stop must end within seconds (SIGTERM)."""
        links = [connection.disconnect() for connection in self.device.connections.values()]
        if links:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(CLOSE_STEP_S):
                    await asyncio.gather(*links, return_exceptions=True)
        if self._scanning:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(CLOSE_STEP_S):
                    await self.device.stop_scanning()
            self._scanning = False
        if self.transport is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(CLOSE_STEP_S):
                    await self.transport.close()

    async def add_scanner(self, scanner: BumbleScanner) -> None:
        self._scanners.add(scanner)
        if not self._scanning:
            await self.device.start_scanning(filter_duplicates=False)
            self._scanning = True

    async def remove_scanner(self, scanner: BumbleScanner) -> None:
        self._scanners.discard(scanner)
        if not self._scanners and self._scanning:
            self._scanning = False
            with contextlib.suppress(Exception):
                await self.device.stop_scanning()

    def _on_advertisement(self, advertisement: Advertisement) -> None:
        self.last_advertisements[address_str(advertisement.address)] = advertisement
        for scanner in list(self._scanners):
            scanner.on_advertisement(advertisement)

    async def find(self, address: str, wait_s: float) -> Advertisement | None:
        """Scan until ``address`` advertises (to learn its address type) or time runs out."""
        address = address.upper()
        if address in self.last_advertisements:
            return self.last_advertisements[address]
        found: asyncio.Future[Advertisement] = asyncio.get_running_loop().create_future()

        def on_adv(adv: Advertisement) -> None:
            if address_str(adv.address) == address and not found.done():
                found.set_result(adv)

        self.device.on(Device.EVENT_ADVERTISEMENT, on_adv)
        probe = BumbleScanner(None, None, "active", adapter=self)
        await self.add_scanner(probe)
        try:
            return await asyncio.wait_for(found, wait_s)
        except TimeoutError:
            return None
        finally:
            self.device.remove_listener(Device.EVENT_ADVERTISEMENT, on_adv)
            await self.remove_scanner(probe)


_default_adapter: BumbleAdapter | None = None


def use_adapter(adapter: BumbleAdapter | None) -> None:
    """Set the adapter used when a scanner/client is created without ``adapter=``."""
    global _default_adapter
    _default_adapter = adapter


def _adapter(kwargs: dict[str, Any]) -> BumbleAdapter:
    adapter = kwargs.get("adapter") or _default_adapter
    if adapter is None:
        raise BleakError("bumble backend: no adapter; call use_adapter() or pass adapter=")
    return adapter


def _advertisement_data(adv: Advertisement) -> tuple[str | None, AdvertisementData]:
    data = adv.data
    name = data.get(AdvertisingData.COMPLETE_LOCAL_NAME) or data.get(
        AdvertisingData.SHORTENED_LOCAL_NAME)
    uuids: list[str] = []
    for kind in (AdvertisingData.COMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
                 AdvertisingData.INCOMPLETE_LIST_OF_16_BIT_SERVICE_CLASS_UUIDS,
                 AdvertisingData.COMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS,
                 AdvertisingData.INCOMPLETE_LIST_OF_128_BIT_SERVICE_CLASS_UUIDS):
        uuids.extend(uuid_str(u) for u in (data.get(kind) or []))
    manufacturer: dict[int, bytes] = {}
    raw = data.get(AdvertisingData.MANUFACTURER_SPECIFIC_DATA, raw=True)
    if raw and len(raw) >= 2:
        manufacturer[int.from_bytes(raw[:2], "little")] = bytes(raw[2:])
    tx_power = None if adv.tx_power == Advertisement.TX_POWER_NOT_AVAILABLE else adv.tx_power
    return name, AdvertisementData(
        local_name=name, manufacturer_data=manufacturer, service_data={},
        service_uuids=uuids, tx_power=tx_power, rssi=adv.rssi, platform_data=(adv,))


class BumbleScanner(BaseBleakScanner):
    def __init__(self, detection_callback: AdvertisementDataCallback | None,
                 service_uuids: list[str] | None, scanning_mode: str = "active",
                 **kwargs: Any) -> None:
        super().__init__(detection_callback, service_uuids)
        self._adapter = _adapter(kwargs)

    async def start(self) -> None:
        self.seen_devices = {}
        await self._adapter.add_scanner(self)

    async def stop(self) -> None:
        await self._adapter.remove_scanner(self)

    def on_advertisement(self, adv: Advertisement) -> None:
        name, data = _advertisement_data(adv)
        if not self.is_allowed_uuid(data.service_uuids):
            return
        address = address_str(adv.address)
        device = self.create_or_update_device(
            address, address, name, {"address": adv.address, "advertisement": adv}, data)
        self.call_detection_callbacks(device, data)


class BumbleClient(BaseBleakClient):
    def __init__(self, address_or_ble_device: BLEDevice | str,
                 services: set[str] | None = None, *,
                 disconnected_callback: Callable[[], None] | None = None,
                 timeout: float = 10.0, **kwargs: Any) -> None:
        super().__init__(address_or_ble_device, disconnected_callback=disconnected_callback,
                         timeout=timeout)
        self._adapter = _adapter(kwargs)
        self._details = (address_or_ble_device.details
                         if isinstance(address_or_ble_device, BLEDevice) else None)
        self._name = (address_or_ble_device.name
                      if isinstance(address_or_ble_device, BLEDevice) else None)
        self._wanted_services = services
        self._connection: Connection | None = None
        self._peer: Peer | None = None
        self._disconnected = asyncio.Event()

    # -- connection ---------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self._name or self.address

    @property
    def mtu_size(self) -> int:
        return self._connection.att_mtu if self._connection is not None else 23

    @property
    def is_connected(self) -> bool:
        return self._connection is not None and not self._disconnected.is_set()

    async def _resolve_address(self) -> hci.Address:
        if isinstance(self._details, dict) and "address" in self._details:
            address: hci.Address = self._details["address"]
            return address
        adv = await self._adapter.find(self.address, self._timeout)
        if adv is None:
            raise BleakDeviceNotFoundError(self.address,
                                           f"device {self.address} was not found advertising")
        name, _ = _advertisement_data(adv)
        self._name = self._name or name
        return adv.address

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        address = await self._resolve_address()
        async with self._adapter.connect_lock:
            device = self._adapter.device
            attempt = asyncio.ensure_future(device.connect(
                address, transport=PhysicalTransport.LE, timeout=self._timeout))
            try:
                connection = await asyncio.shield(attempt)
            except asyncio.CancelledError:
                # Cancelled from outside (a caller's timeout, a stop): let bumble's connect
                # end on its own — its timeout cancels the pending LE connect properly —
                # and drop the link if it was made. Cut short, it left the controller to
                # complete a link nobody owned, and every later connect was refused.
                with contextlib.suppress(BaseException):
                    made = await asyncio.wait_for(attempt, self._timeout + 5)
                    await asyncio.wait_for(made.disconnect(), 5)
                raise
            except Exception as exc:
                raise BleakError(f"connect to {self.address} failed: {exc}") from exc
        self._connection = connection
        self._disconnected.clear()
        connection.on(Connection.EVENT_DISCONNECTION, self._on_disconnection)
        try:
            if pair:
                await connection.pair()
            peer = Peer(connection)
            self._peer = peer
            await peer.request_mtu(DEFAULT_MTU)
            self.services = await self._discover(peer)
        except Exception as exc:
            with contextlib.suppress(Exception):
                await connection.disconnect()
            self._connection = None
            raise BleakError(f"setting up {self.address} failed: {exc}") from exc

    def _on_disconnection(self, reason: int) -> None:
        logger.debug("%s disconnected (reason 0x%02X)", self.address, reason)
        self._disconnected.set()
        self.services = None
        if self._disconnected_callback is not None:
            self._disconnected_callback()

    async def _discover(self, peer: Peer) -> BleakGATTServiceCollection:
        collection = BleakGATTServiceCollection()
        await peer.discover_services()
        for service in peer.services:
            bleak_service = BleakGATTService(service, service.handle, uuid_str(service.uuid))
            collection.add_service(bleak_service)
            await service.discover_characteristics()
            for char in service.characteristics:
                props = [name for bit, name in _PROPERTY_NAMES.items() if char.properties & bit]
                bleak_char = BleakGATTCharacteristic(
                    char, char.handle, uuid_str(char.uuid), props,  # type: ignore[arg-type]
                    lambda: max(20, self.mtu_size - 3), bleak_service)
                collection.add_characteristic(bleak_char)
                for descriptor in await char.discover_descriptors():
                    collection.add_descriptor(BleakGATTDescriptor(
                        descriptor, descriptor.handle, uuid_str(descriptor.type), bleak_char))
        return collection

    async def disconnect(self) -> None:
        connection = self._connection
        if connection is None or self._disconnected.is_set():
            return
        with contextlib.suppress(Exception):
            await connection.disconnect()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._disconnected.wait(), 5)

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        if self._connection is None:
            raise BleakError("not connected")
        await self._connection.pair()

    async def unpair(self) -> None:
        keystore = self._adapter.device.keystore
        if keystore is not None and self._connection is not None:
            with contextlib.suppress(Exception):
                await keystore.delete(str(self._connection.peer_address))

    # -- GATT ---------------------------------------------------------------------------

    def _require(self) -> Peer:
        if not self.is_connected or self._peer is None:
            raise BleakError("Not connected")
        return self._peer

    async def read_gatt_char(self, characteristic: BleakGATTCharacteristic,
                             **kwargs: Any) -> bytearray:
        self._require()
        proxy: CharacteristicProxy[bytes] = characteristic.obj
        with _att_errors():
            return bytearray(await proxy.read_value())

    async def read_gatt_descriptor(self, descriptor: BleakGATTDescriptor,
                                   **kwargs: Any) -> bytearray:
        self._require()
        with _att_errors():
            return bytearray(await descriptor.obj.read_value())

    async def write_gatt_char(self, characteristic: BleakGATTCharacteristic,
                              data: SizedBuffer, response: bool) -> None:
        self._require()
        with _att_errors():
            await characteristic.obj.write_value(bytes(data), with_response=response)

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor,
                                    data: SizedBuffer) -> None:
        if descriptor.uuid == CCCD_UUID:
            raise ValueError("write the CCCD with start_notify/stop_notify, not directly")
        self._require()
        with _att_errors():
            await descriptor.obj.write_value(bytes(data), with_response=True)

    async def start_notify(self, characteristic: BleakGATTCharacteristic,
                           callback: Callable[[bytearray], None], **kwargs: Any) -> None:
        peer = self._require()
        prefer_notify = "notify" in characteristic.properties
        with _att_errors():
            await peer.subscribe(characteristic.obj, lambda value: callback(bytearray(value)),
                                 prefer_notify=prefer_notify)

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        """Switch the device's notifications off, then drop the callback.

        bumble's ``unsubscribe`` forgets the callback before the CCCD write goes out, so
        a value the device sent during that round trip would be discarded. Writing the
        CCCD first (acknowledged, and ATT keeps order) means every value sent before the
        device stopped reaches the callback."""
        peer = self._require()
        with _att_errors():
            cccd = next((d for d in characteristic.descriptors if d.uuid == CCCD_UUID), None)
            if cccd is not None:
                await cccd.obj.write_value(b"\x00\x00", with_response=True)
            await peer.unsubscribe(characteristic.obj)
