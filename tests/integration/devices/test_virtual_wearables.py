"""A bumble central connects to every virtual wearable over the virtual link, subscribes
and decodes simulated data (played faster than real time) with the devices codecs."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

import pytest
from bumble.core import UUID
from bumble.device import Device, Peer

from devices.catalog import DeviceType, Procedure, spec
from devices.gatt import polar_pmd
from devices.gatt.registry import DecodeContext, decode
from devices.sim.emission import EmissionLog
from devices.sim.home import HomeConfig, VirtualHome, address_for
from devices.sim.radio import VirtualRadio

# The timeout covers waiting for its turn (tests/conftest.py) behind an end-to-end test.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.takes_turns,
              pytest.mark.timeout(1800)]

SIM_SECONDS = 330.0  # > 60 s of everything, and at least one 5-minute CGM record
SPEED = 30.0


async def _connect_and_subscribe(central: Device, address: str, device_type: DeviceType,
                                 decoded: dict, errors: list) -> Peer:
    device_spec = spec(device_type)
    connection = await central.connect(address, timeout=10)
    if Procedure.BOND in device_spec.procedures:
        await connection.pair()
    peer = Peer(connection)
    await peer.request_mtu(247)
    await peer.discover_services()
    for service in peer.services:
        await service.discover_characteristics()
    context = DecodeContext(e2e_crc_supported=True if device_type == DeviceType.CGM else None,
                            service=device_spec.racp_service)
    for char_spec in device_spec.subscriptions:
        [char] = peer.get_characteristics_by_uuid(UUID(char_spec.uuid))

        def on_value(value: bytes, uuid: str = char_spec.uuid) -> None:
            try:
                decoded[(device_type, uuid)].append(decode(uuid, value, context))
            except Exception as exc:  # collected and asserted on below
                errors.append((device_type, uuid, exc))

        await peer.subscribe(char, on_value)
    for char_spec in device_spec.reads:
        [char] = peer.get_characteristics_by_uuid(UUID(char_spec.uuid))
        decoded[(device_type, "read:" + char_spec.uuid)].append(await char.read_value())
    if device_type == DeviceType.ECG_PATCH:
        [cp] = peer.get_characteristics_by_uuid(UUID(polar_pmd.UUID_CONTROL_POINT))
        await cp.write_value(bytes(polar_pmd.start_ecg()), with_response=True)
    return peer


async def test_central_decodes_every_wearable(radio: VirtualRadio) -> None:
    log = EmissionLog()
    config = HomeConfig(seed=7, scenario="baseline", speed=SPEED, devices=tuple(DeviceType),
                        start=datetime(2026, 11, 25, 8, 0, tzinfo=UTC),
                        glucose_meter_interval_s=60.0, bp_interval_s=60.0)

    async def factory(name: str, address: str):
        device = radio.device(name, address)
        return device, radio.controller(address)

    home = VirtualHome(config, factory, log)
    await home.start()
    central = radio.device("gateway", "F0:F0:F0:F0:F0:01")
    await central.power_on()
    decoded: dict = defaultdict(list)
    errors: list = []
    try:
        for device_type in DeviceType:
            await _connect_and_subscribe(central, address_for(7, device_type), device_type,
                                         decoded, errors)
        await home.clock.sleep_until(SIM_SECONDS)
        ecg_started = home.wearables[DeviceType.ECG_PATCH].ecg_start
    finally:
        await home.stop()

    assert errors == []
    readings = defaultdict(list)
    for (device_type, _uuid), values in decoded.items():
        for value in values:
            if hasattr(value, "readings"):
                readings[device_type].extend(value.readings)
    by_metric = {d: defaultdict(list) for d in DeviceType}
    for device_type, items in readings.items():
        for r in items:
            by_metric[device_type][r.metric].append(r.value)

    # Every streamed reading decodes to exactly what the simulator says it emitted.
    emitted = defaultdict(list)
    for e in log.items:
        emitted[(e.device, e.metric)].append(e.value)
    serial = {t: w.serial for t, w in home.wearables.items()}
    for device_type, metric in [(DeviceType.ECG_PATCH, "heart_rate"),
                                (DeviceType.SMARTWATCH, "heart_rate"),
                                (DeviceType.SMARTWATCH, "spo2"),
                                (DeviceType.SMARTWATCH, "body_temperature"),
                                (DeviceType.BP_CUFF, "systolic_bp")]:
        assert by_metric[device_type][metric] == emitted[(serial[device_type], metric)]
    # Enough to mean something; the six connections take simulated minutes when the
    # machine is busy (30x), so not the whole run.
    assert len(by_metric[DeviceType.ECG_PATCH]["heart_rate"]) >= 150
    assert len(by_metric[DeviceType.ECG_PATCH]["rr_interval"]) >= 120
    assert all(40 <= hr <= 120 for hr in by_metric[DeviceType.SMARTWATCH]["heart_rate"])
    assert all(90 <= v <= 100 for v in by_metric[DeviceType.SMARTWATCH]["spo2"])

    ecg_frames = decoded[(DeviceType.ECG_PATCH, polar_pmd.UUID_DATA)]
    samples = sum(len(f.segments[0].samples) for f in ecg_frames)
    assert ecg_started is not None and ecg_started < SIM_SECONDS / 2
    # Most of the time since the PMD start (a loaded machine lets the 30x clock run ahead
    # of the frames; the exact count is checked against the emission log below).
    assert samples >= 0.6 * (SIM_SECONDS - ecg_started) * 130
    assert samples == sum(e.value for e in log.by_metric("ecg_samples"))
    peak = max(max(f.segments[0].samples) for f in ecg_frames)
    assert 800 <= peak <= 2000  # R waves in µV

    cgm = by_metric[DeviceType.CGM]["glucose"]
    assert len(cgm) >= 1
    assert all(40 <= g <= 400 for g in cgm)
    # Every finger stick since this central subscribed (it does not backfill, and on a
    # busy machine the first stick can be stored before the subscription), in order.
    sticks = by_metric[DeviceType.GLUCOSE_METER]["glucose"]
    stored = emitted[(serial[DeviceType.GLUCOSE_METER], "glucose")]
    assert sticks == stored[len(stored) - len(sticks):]
    assert len(sticks) >= 3 and len(stored) - len(sticks) <= 2
