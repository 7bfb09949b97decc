"""The bumble backend's connects on a virtual radio: a connect abandoned at any point must
not leave a link nobody owns. A wearable stops advertising while connected, so such a
link made the device unreachable for good (seen after a gateway restart on a loaded
machine: every later scan reported "not advertising")."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import pytest
from bleak import BleakClient
from bumble import hci
from stamina.instrumentation import RetryDetails, get_on_retry_hooks, set_on_retry_hooks

from devices.catalog import DeviceType
from devices.sim.emission import EmissionLog
from devices.sim.home import HomeConfig, VirtualHome, address_for
from devices.sim.radio import VirtualRadio
from gateway import retry_policy
from gateway.ble.bumble_backend import BumbleAdapter, BumbleClient, use_adapter
from gateway.connection import connect_with_retry
from gateway.errors import ConnectError

pytestmark = [pytest.mark.integration]

SEED = 41
GATEWAY = "F0:00:00:00:41:01"


async def _home(radio: VirtualRadio) -> VirtualHome:
    async def factory(name: str, address: str):
        return radio.device(name, address), radio.controller(address)

    home = VirtualHome(HomeConfig(seed=SEED, scenario="baseline", speed=1.0,
                                  devices=(DeviceType.SMARTWATCH,),
                                  start=datetime(2026, 11, 25, 8, 0, tzinfo=UTC)),
                       factory, EmissionLog())
    await home.start()
    return home


async def _connect(address: str) -> BleakClient:
    client = BleakClient(address, backend=BumbleClient, timeout=10.0)
    await client.connect()
    return client


@pytest.fixture
async def rig(radio: VirtualRadio):
    home = await _home(radio)
    adapter = await BumbleAdapter.on_device(radio.device("gateway", GATEWAY))
    use_adapter(adapter)
    try:
        yield adapter, address_for(SEED, DeviceType.SMARTWATCH), home
    finally:
        await home.stop()
        await adapter.close()
        use_adapter(None)


async def test_a_link_no_connect_waits_for_is_refused(rig) -> None:
    adapter, address, home = rig
    watch = home.wearables[DeviceType.SMARTWATCH].device
    linked, dropped = asyncio.Event(), asyncio.Event()

    def on_link(connection) -> None:
        linked.set()
        connection.on("disconnection", lambda *_: dropped.set())

    watch.on("connection", on_link)
    # What a connect cancelled after its HCI command leaves behind: the controller
    # completes the link when the wearable advertises, and nobody is waiting for it.
    await adapter.device.send_async_command(hci.HCI_LE_Create_Connection_Command(
        le_scan_interval=96, le_scan_window=96, initiator_filter_policy=0,
        peer_address_type=hci.Address.RANDOM_DEVICE_ADDRESS,
        peer_address=hci.Address(address, hci.Address.RANDOM_DEVICE_ADDRESS),
        own_address_type=hci.OwnAddressType.RANDOM, connection_interval_min=24,
        connection_interval_max=40, max_latency=0, supervision_timeout=42,
        min_ce_length=0, max_ce_length=0))
    async with asyncio.timeout(10):
        await linked.wait()  # the wearable saw the link...
        await dropped.wait()  # ...and the gateway refused it
    assert not adapter.device.connections
    client = await _connect(address)  # and the wearable advertises again
    try:
        assert client.is_connected
    finally:
        await client.disconnect()


@pytest.mark.parametrize("after_steps", [*range(0, 30, 3), 60])
async def test_a_connect_cancelled_at_any_step_leaves_the_device_reachable(
        rig, after_steps: int) -> None:
    adapter, address, _home = rig
    client = BleakClient(address, backend=BumbleClient, timeout=10.0)
    attempt = asyncio.ensure_future(client.connect())
    for _ in range(after_steps):
        await asyncio.sleep(0)
    attempt.cancel()
    await asyncio.gather(attempt, return_exceptions=True)
    await client.disconnect()  # what connect_with_retry does after a failed attempt
    async with asyncio.timeout(15):
        again = await _connect(address)
    try:
        assert again.is_connected
        assert len(adapter.device.connections) == 1
    finally:
        await again.disconnect()



async def test_connect_with_retry_backs_off_then_gives_a_typed_error(rig) -> None:
    """A device that is not on the air: every attempt fails, each failure is retried
    through the one BLE policy (stamina reports each retry), and the caller gets a
    ConnectError with advice, not bleak's error."""
    _adapter, _address, _home = rig
    retries: list[RetryDetails] = []
    previous = get_on_retry_hooks()
    set_on_retry_hooks([*previous, retries.append])
    try:
        with pytest.raises(ConnectError) as caught:
            await connect_with_retry("C3:00:00:00:99:99", name="absent", backend=BumbleClient,
                                     attempts=2, pair=False)
    finally:
        set_on_retry_hooks(previous)
    assert caught.value.reason == "connect_failed"
    assert caught.value.advice and "within range" in caught.value.advice
    assert [r.retry_num for r in retries] == [1]
    assert 0 < retries[0].wait_for <= retry_policy.CONNECT.max_s + retry_policy.CONNECT.jitter_s


async def test_connect_with_retry_returns_a_connected_client(rig) -> None:
    _adapter, address, _home = rig
    client = await connect_with_retry(address, name="watch", backend=BumbleClient, attempts=3,
                                      pair=False)
    try:
        assert client.is_connected
    finally:
        await client.disconnect()


async def test_closing_the_adapter_is_bounded_when_the_peer_is_gone(radio: VirtualRadio) -> None:
    """SIGTERM with a wearable that vanished mid-link (its controller left the air without
    ending the link): closing once waited for a disconnection that never completes."""
    home = await _home(radio)
    adapter = await BumbleAdapter.on_device(radio.device("gateway", "F0:00:00:00:41:02"))
    use_adapter(adapter)
    try:
        client = await _connect(address_for(SEED, DeviceType.SMARTWATCH))
        assert client.is_connected
        watch = radio.controller(address_for(SEED, DeviceType.SMARTWATCH))
        radio.link.remove_controller(watch)  # gone: no Terminate, no answer to one
        async with asyncio.timeout(8):
            await adapter.close()
    finally:
        use_adapter(None)
        with contextlib.suppress(Exception):
            await home.stop()
