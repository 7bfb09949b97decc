"""A Bluetooth "air" shared between processes: a TCP hub on 127.0.0.1.

Every TCP connection gets its own virtual controller on one shared link, so several
wearable processes and a gateway process meet as if in one room. When a connection
drops, its controller ends all its links with "connection timeout" (the peer's
disconnect callback fires at once instead of after a 30 s GATT timeout) and leaves the
link. Hosts attach with bumble's ``tcp-client:127.0.0.1:PORT`` transport.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging

from bumble import hci
from bumble.device import Device
from bumble.link import LocalLink
from bumble.transport import open_transport
from bumble.transport.common import StreamPacketSink, StreamPacketSource, Transport

from devices.sim.radio import VirtualController

logger = logging.getLogger(__name__)

_ids = itertools.count(1)


class _ControllerPort(StreamPacketSource):
    """One TCP connection: HCI packets in and out of its own virtual controller."""

    def __init__(self, hub: BluetoothHub) -> None:
        super().__init__()
        self.hub = hub
        self.controller: VirtualController | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        sink = StreamPacketSink(transport)  # type: ignore[arg-type]
        self.controller = VirtualController(f"hub-{next(_ids)}", host_source=self,
                                            host_sink=sink, link=self.hub.link)
        self.hub.ports.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        controller = self.controller
        self.hub.ports.discard(self)
        if controller is None:
            return
        with contextlib.suppress(Exception):
            controller.le_legacy_advertiser.enabled = False
        with contextlib.suppress(Exception):
            controller.drop_links()
        with contextlib.suppress(KeyError):
            self.hub.link.remove_controller(controller)
        logger.info("%s left the air (%s)", controller.name, exc or "closed")


class BluetoothHub:
    def __init__(self) -> None:
        self.link = LocalLink()  # type: ignore[no-untyped-call]  # bumble leaves it unannotated
        self.ports: set[_ControllerPort] = set()
        self._server: asyncio.base_events.Server | None = None
        self.port: int | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _ControllerPort(self), host, port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        logger.info("Bluetooth hub listening on %s:%s", host, self.port)
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None


class RemoteRadio:
    """Attach bumble Devices to a hub in another process (one TCP connection each)."""

    def __init__(self, hub_address: str) -> None:
        self.hub_address = hub_address
        self.transports: list[Transport] = []

    async def device(self, name: str, address: str) -> tuple[Device, None]:
        transport = await open_transport(f"tcp-client:{self.hub_address}")
        self.transports.append(transport)
        device = Device.with_hci(name, hci.Address(address, hci.Address.RANDOM_DEVICE_ADDRESS),
                                 transport.source, transport.sink)
        return device, None

    async def close(self) -> None:
        for transport in self.transports:
            with contextlib.suppress(Exception):
                await transport.close()
        self.transports.clear()
