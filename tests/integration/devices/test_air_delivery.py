"""A wearable counts a notification emitted only once its controller took it: values
still queued in its host when the link drops are flushed, never reach the central, and
must not appear in the emission log (the ground truth every loss check is judged by)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from bumble.core import UUID
from bumble.device import Peer

from devices.catalog import DeviceType
from devices.gatt import heart_rate
from devices.sim.emission import EmissionLog
from devices.sim.home import HomeConfig, VirtualHome, address_for
from devices.sim.peripheral import VirtualWearable
from devices.sim.radio import VirtualRadio

pytestmark = [pytest.mark.integration]

BURST = 300
MARKER = bytes([0x00, 254])  # Heart Rate Measurement, uint8 254 /min: no simulated value


async def test_values_flushed_at_a_link_drop_are_not_counted_as_emitted(
        radio: VirtualRadio) -> None:
    log = EmissionLog()
    config = HomeConfig(seed=11, scenario="baseline", speed=1.0,
                        devices=(DeviceType.SMARTWATCH,),
                        start=datetime(2026, 11, 25, 8, 0, tzinfo=UTC))

    async def factory(name: str, address: str):
        device = radio.device(name, address)
        return device, radio.controller(address)

    home = VirtualHome(config, factory, log)
    await home.start()
    watch = home.wearables[DeviceType.SMARTWATCH]
    central = radio.device("gateway", "F0:F0:F0:F0:F0:02")
    await central.power_on()
    received: list[bytes] = []
    try:
        connection = await central.connect(address_for(11, DeviceType.SMARTWATCH), timeout=10)
        peer = Peer(connection)
        await peer.discover_services()
        for service in peer.services:
            await service.discover_characteristics()
        uuid = VirtualWearable.uuid(heart_rate.UUID_MEASUREMENT)
        [char] = peer.get_characteristics_by_uuid(UUID(uuid))
        await peer.subscribe(char, lambda value: received.append(bytes(value)))
        await asyncio.sleep(0.2)  # the CCCD write reached the watch

        # A burst far beyond the controller's 64 buffers, then the link drops at once
        # (a supervision timeout): the host still holds most of the burst.
        await asyncio.gather(*(watch.send(uuid, MARKER, [("marker", k, 0.0, 254.0)])
                               for k in range(BURST)))
        assert watch.controller is not None
        watch.controller.drop_links()
        await asyncio.sleep(1.0)  # completions and the disconnect reach both hosts
    finally:
        await home.stop()

    arrived = sum(1 for value in received if value == MARKER)
    marked = log.by_metric("marker")
    sure = sum(1 for e in marked if not e.in_doubt)
    # Every value the log counts as surely sent reached the central; the only others that
    # may have are those the controller held when the link dropped (at most its 64 buffers).
    assert sure <= arrived <= len(marked)
    assert len(marked) - sure <= 64
    assert 0 < arrived < BURST  # the drop did cut the burst: some went, some were flushed
    # The rest is counted as never sent. (By metric: the watch's own heart-rate values go
    # on meanwhile, and one queued behind the burst is flushed with it.)
    assert watch.unsent_by_metric.get("marker", 0) == BURST - len(marked) > 0
