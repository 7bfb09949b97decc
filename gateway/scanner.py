"""Notice devices that advertise a supported service but are not in this gateway's
config: they are reported in status (by address) and never ingested."""

from __future__ import annotations

import logging

from bleak import BleakScanner
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData

from devices.catalog import CATALOG

logger = logging.getLogger(__name__)

SUPPORTED_SERVICES = sorted({s.advertised_service for s in CATALOG.values()})


class UnknownDeviceWatch:
    def __init__(self, known_addresses: set[str], backend: type | None) -> None:
        self.known = {a.upper() for a in known_addresses}
        self.backend = backend
        self.unknown: set[str] = set()
        self._scanner: BleakScanner | None = None

    def _on_advertisement(self, device: BLEDevice, adv: AdvertisementData) -> None:
        address = device.address.upper()
        if address in self.known or address in self.unknown:
            return
        if set(adv.service_uuids) & set(SUPPORTED_SERVICES):
            self.unknown.add(address)
            logger.info("ignoring unenrolled device %s (%s)", address, adv.local_name)

    async def start(self) -> None:
        self._scanner = BleakScanner(self._on_advertisement, backend=self.backend)
        await self._scanner.start()

    async def stop(self) -> None:
        if self._scanner is not None:
            await self._scanner.stop()
