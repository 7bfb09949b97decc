"""Link loss on the CGM and the glucose meter: records stored while out of range come back
through RACP "report records ≥ last + 1" after reconnecting — all of them, once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from bumble.core import UUID
from bumble.device import Device, Peer

from devices.catalog import DeviceType, spec
from devices.gatt import racp
from devices.gatt.registry import DecodeContext, decode, full_uuid
from devices.sim.emission import EmissionLog
from devices.sim.home import HomeConfig, VirtualHome, address_for
from devices.sim.radio import VirtualRadio

# The timeout covers waiting for its turn (tests/conftest.py) behind an end-to-end test.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.takes_turns,
              pytest.mark.timeout(1800)]


class Collector:
    """What a gateway would do, reduced to the RACP essentials."""

    def __init__(self, central: Device, device_type: DeviceType) -> None:
        self.central = central
        self.device_type = device_type
        self.spec = spec(device_type)
        self.keys: list[int] = []
        self.repeats = 0  # records received twice (see on_value)
        self.responses: asyncio.Queue[racp.RacpResponse] = asyncio.Queue()
        self.disconnected = asyncio.Event()
        self.context = DecodeContext(e2e_crc_supported=device_type == DeviceType.CGM,
                                     service=self.spec.racp_service)

    def on_value(self, uuid: str, value: bytes) -> None:
        decoded = decode(uuid, value, self.context)
        if isinstance(decoded.value, racp.RacpResponse):
            self.responses.put_nowait(decoded.value)
        else:
            for r in decoded.readings:
                if r.metric != "glucose":
                    continue
                # A record measured while reconnecting arrives live and again in the
                # backfill that asks from before it: a collector keeps it once.
                if r.record in self.keys:
                    self.repeats += 1
                else:
                    self.keys.append(r.record)

    async def connect(self) -> Peer:
        address = address_for(11, self.device_type)
        for _ in range(50):
            try:
                connection = await self.central.connect(address, timeout=2)
                break
            except Exception:
                await asyncio.sleep(0.1)
        else:
            raise AssertionError(f"{self.device_type} never came back")
        self.disconnected.clear()
        connection.on("disconnection", lambda *_: self.disconnected.set())
        await connection.pair()
        peer = Peer(connection)
        await peer.discover_services()
        for service in peer.services:
            await service.discover_characteristics()
        for char_spec in self.spec.subscriptions:
            [char] = peer.get_characteristics_by_uuid(UUID(char_spec.uuid))
            await peer.subscribe(char, lambda v, u=char_spec.uuid: self.on_value(u, v))
        return peer

    def next_key(self) -> int:
        """Where a backfill starts: after the newest record held. Taken before connecting:
        a live record arriving first would otherwise skip the ones stored meanwhile."""
        return max(self.keys) + 1 if self.keys else 0

    async def backfill(self, peer: Peer, start: int) -> racp.RacpResponse:
        [cp] = peer.get_characteristics_by_uuid(UUID(full_uuid(racp.UUID_RACP)))
        await cp.write_value(bytes(racp.report_from(start)), with_response=True)
        return await asyncio.wait_for(self.responses.get(), timeout=10)


async def test_backfill_recovers_every_record_after_link_loss(radio: VirtualRadio) -> None:
    log = EmissionLog()
    config = HomeConfig(seed=11, scenario="link_loss", speed=60.0,
                        devices=(DeviceType.CGM, DeviceType.GLUCOSE_METER),
                        start=datetime(2026, 11, 25, 9, 0, tzinfo=UTC),
                        glucose_meter_interval_s=60.0)

    async def factory(name: str, address: str):
        return radio.device(name, address), radio.controller(address)

    home = VirtualHome(config, factory, log)
    await home.start()
    central = radio.device("gateway", "F0:F0:F0:F0:F0:02")
    await central.power_on()
    collectors = {t: Collector(central, t) for t in config.devices}
    try:
        for c in collectors.values():
            await c.connect()
        for c in collectors.values():  # the scenario takes both out of range at 5 min
            await asyncio.wait_for(c.disconnected.wait(), timeout=30)
        assert home.clock.t() >= 5 * 60
        before = {t: len(c.keys) for t, c in collectors.items()}
        await home.clock.sleep_until(16 * 60)  # back in range from 15 min
        for c in collectors.values():
            start = c.next_key()
            peer = await c.connect()
            response = await c.backfill(peer, start)
            assert response.response == racp.ResponseCode.SUCCESS
        await home.clock.sleep_until(20 * 60)
    finally:
        await home.stop()

    for device_type, c in collectors.items():
        serial = home.wearables[device_type].serial
        stored = [e for e in log.items if e.device == serial and e.metric == "glucose"]
        expected = [e.key % 100_000 for e in stored]
        assert sorted(c.keys) == expected, device_type  # all of them
        assert c.repeats <= 1, device_type  # only a record racing the reconnection
        assert len(c.keys) > before[device_type]
    # The outage really cost live notifications that only the backfill brought back.
    assert len(collectors[DeviceType.GLUCOSE_METER].keys) >= 15
