"""Gateway faults with exact counts: link loss with backfill, malformed notifications,
and persisted watermarks freeing the spool."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from devices.catalog import DeviceType
from devices.sim.home import VirtualHome
from stream.contract import topics
from stream.contract import watermark as watermarks
from stream.kafka.settings import KafkaSettings
from tests.integration.gateway.harness import (
    arrived_by_device,
    read_envelopes,
    read_statuses,
    start_rig,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_link_loss_on_cgm_and_meter_is_recovered_by_backfill(
    tmp_path: Path, kafka_settings: KafkaSettings,
) -> None:
    # Scenario "link_loss": both devices out of range from minute 5 to minute 15.
    rig = await start_rig(tmp_path, kafka_settings, seed=31, scenario="link_loss", speed=40.0,
                          devices=(DeviceType.CGM, DeviceType.GLUCOSE_METER))
    try:
        await rig.home.clock.sleep_until(24 * 60)
        status = await rig.finish()
    finally:
        await rig.stop()

    by_device = arrived_by_device(await read_envelopes(kafka_settings, rig.config.gateway_id))
    for device in rig.config.devices:
        stored = [e for e in rig.log.items if e.device == device.serial and e.metric == "glucose"]
        got = [r for env in by_device[device.id] for r in env.readings if r.metric == "glucose"]
        assert sorted(r.value for r in got) == sorted(e.value for e in stored), device.id
        assert len({r.seq for r in got}) == len(got) == len(stored), device.id  # once each
        outage = [e for e in stored
                  if datetime(2026, 11, 25, 8, 5, tzinfo=UTC) <= e.time
                  < datetime(2026, 11, 25, 8, 15, tzinfo=UTC)]
        assert outage, device.id
        backfilled = [r for r in got if r.backfilled]
        assert len(backfilled) >= len(outage), device.id  # the outage came back by RACP
    reconnects = {d.device_id: d.reconnects for d in status.devices}
    assert all(n >= 1 for n in reconnects.values()), reconnects


async def test_a_busy_record_store_is_asked_again(tmp_path: Path,
                                                  kafka_settings: KafkaSettings) -> None:
    # The meter refuses the first two backfill requests as "server busy" (what a device
    # still serving a killed gateway's request answers); its records must still come.
    async def busy_meter_with_records(home: VirtualHome) -> None:
        await home.clock.sleep_until(200)  # three finger sticks stored, nobody connected
        home.wearables[DeviceType.GLUCOSE_METER].store.busy_next = 2

    rig = await start_rig(tmp_path, kafka_settings, seed=33, scenario="baseline", speed=20.0,
                          devices=(DeviceType.GLUCOSE_METER,),
                          before_gateway=busy_meter_with_records)
    try:
        await rig.home.clock.sleep_until(400)
        status = await rig.finish()
    finally:
        await rig.stop()
    meter = rig.home.wearables[DeviceType.GLUCOSE_METER]
    assert meter.store.busy_next == 0  # both refusals were served
    [device] = rig.config.devices
    stored = [e for e in rig.log.items if e.device == device.serial and e.metric == "glucose"]
    got = [r for env in arrived_by_device(await read_envelopes(kafka_settings,
                                                               rig.config.gateway_id))[device.id]
           for r in env.readings if r.metric == "glucose"]
    assert sorted(r.value for r in got) == sorted(e.value for e in stored)
    assert len({r.seq for r in got}) == len(got)
    assert sum(r.backfilled for r in got) >= 3
    assert not (status.devices[0].last_error or "").startswith("RACP")


async def test_malformed_notifications_are_counted_and_capture_goes_on(
    tmp_path: Path, kafka_settings: KafkaSettings,
) -> None:
    rig = await start_rig(tmp_path, kafka_settings, seed=32, scenario="baseline", speed=10.0,
                          devices=(DeviceType.SMARTWATCH,))
    try:
        await rig.home.clock.sleep_until(30)
        watch = rig.home.wearables[DeviceType.SMARTWATCH]
        watch.malformed_next = 7  # the next 7 notifications are truncated to one byte
        await rig.home.clock.sleep_until(120)
        status = await rig.finish()
    finally:
        await rig.stop()
    [device] = status.devices
    assert device.malformed == {"truncated": 7}
    assert device.connected is False  # stopped now, but it stayed up throughout
    assert device.reconnects == 1
    # Status telemetry reached the status topic, malformed counts included.
    statuses = await read_statuses(kafka_settings, rig.config.gateway_id)
    assert statuses, "no status message on the status topic"
    assert statuses[-1].devices[0].malformed == {"truncated": 7}
    assert all(s.subject == rig.config.subject for s in statuses)
    envs = await read_envelopes(kafka_settings, rig.config.gateway_id)
    got = [r.value for e in envs for r in e.readings if r.metric == "heart_rate"]
    serial = rig.config.devices[0].serial
    assert got == [e.value for e in rig.log.items if e.device == serial and e.metric == "heart_rate"]
    assert len(got) >= 100


async def test_persisted_watermark_frees_the_spool(tmp_path: Path,
                                                  kafka_settings: KafkaSettings) -> None:
    rig = await start_rig(tmp_path, kafka_settings, seed=33, scenario="baseline", speed=10.0,
                          devices=(DeviceType.SMARTWATCH, DeviceType.GLUCOSE_METER))
    try:
        await rig.home.clock.sleep_until(90)
        await rig.home.stop()
        await rig.drain()
        before = rig.gateway.spool.depth()
        assert before.items > 0
        assert before.batches_sent > 0
        envs = await read_envelopes(kafka_settings, rig.config.gateway_id)
        through = {d: max(e.seq_to for e in v) for d, v in arrived_by_device(envs).items()}
        # What the sink publishes after its transaction commits (the contract), here by hand.
        producer = AIOKafkaProducer(**kafka_settings.producer_config())
        await producer.start()
        try:
            partial = {d: t // 2 for d, t in through.items()}
            for devices in (partial, through):
                await producer.send_and_wait(topics.WATERMARKS, watermarks.encode(
                    watermarks.Watermark(gateway_id=rig.config.gateway_id, devices=devices,
                                         at=datetime.now(UTC))),
                    key=rig.config.gateway_id.encode())
        finally:
            await producer.stop()
        async with asyncio.timeout(30):
            while rig.gateway.spool.depth().items:  # noqa: ASYNC110 - polling a SQLite file
                await asyncio.sleep(0.2)
        after = rig.gateway.spool.depth()
        assert (after.items, after.batches_sent, after.batches_built) == (0, 0, 0)
        for device_id, seq in through.items():
            assert rig.gateway.spool.persisted_through(device_id) == seq
    finally:
        await rig.stop()


async def test_an_unreadable_serial_is_refused_and_reconnects_back_off(
        tmp_path: Path, kafka_settings: KafkaSettings) -> None:
    """A serial number that does not decode (an embedded NUL) once skipped the identity
    check, so the device was ingested as the enrolled one; and a set-up failing after the
    link came up was retried at once, about 35 times a minute. Now: refused, nothing
    captured, and the reconnects back off (2 s, 4 s, 8 s, ... plus jitter)."""
    async def garbled_serial(home: VirtualHome) -> None:
        home.wearables[DeviceType.SMARTWATCH].serial = "WCH\x00-00071"

    rig = await start_rig(tmp_path, kafka_settings, seed=71, scenario="baseline", speed=10.0,
                          devices=(DeviceType.SMARTWATCH,), before_gateway=garbled_serial)
    try:
        await asyncio.sleep(12)
        status = rig.gateway.status()
        captured = rig.gateway.spool.depth().unbatched
    finally:
        await rig.stop()
    [device] = status.devices
    assert "serial number unreadable" in (device.last_error or ""), device
    assert 1 <= device.reconnects <= 4, device.reconnects  # 2 + 4 + 8 s of backoff fit in 12 s
    assert captured == 0
    assert not [e for e in await read_envelopes(kafka_settings, rig.config.gateway_id)
                if any(r.metric != "battery_level" for r in e.readings)]


async def test_a_battery_level_that_is_not_notified_is_read_periodically(
        tmp_path: Path, kafka_settings: KafkaSettings) -> None:
    # The smartwatch's Battery Level has no Notify property: the gateway reads it on
    # connecting and every battery_read_interval_s, and spools each value as a reading
    # (so battery_low can fire), instead of waiting for notifications that never come.
    rig = await start_rig(tmp_path, kafka_settings, seed=35, scenario="baseline", speed=20.0,
                          devices=(DeviceType.SMARTWATCH,), battery_read_interval_s=2.0,
                          home_overrides={"battery_notifies": False})
    try:
        await asyncio.sleep(12.0)
        status = await rig.finish()
    finally:
        await rig.stop()
    [device] = rig.config.devices
    battery = [r for env in arrived_by_device(await read_envelopes(
        kafka_settings, rig.config.gateway_id))[device.id]
        for r in env.readings if r.metric == "battery_level"]
    assert len(battery) >= 3, battery  # on connecting, then every 2 s
    assert all(0 <= r.value <= 100 and r.unit == "%" for r in battery)
    assert status.devices[0].battery == battery[-1].value
