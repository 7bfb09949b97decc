"""Virtual ECG patch + CGM + smartwatch + glucose meter → gateway (bleak over bumble) →
real broker: every simulated reading arrives exactly once, in the right envelope, in
order per device."""

from __future__ import annotations

import itertools
from collections import defaultdict
from pathlib import Path

import pytest

from devices.catalog import DeviceType
from stream.kafka.settings import KafkaSettings
from tests.integration.gateway.harness import arrived_by_device, read_envelopes, start_rig

# The timeout covers waiting for its turn (tests/conftest.py) behind an end-to-end test.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.takes_turns,
              pytest.mark.timeout(1800)]

DEVICES = (DeviceType.ECG_PATCH, DeviceType.CGM, DeviceType.SMARTWATCH, DeviceType.GLUCOSE_METER)


async def test_every_reading_arrives_once_in_order(tmp_path: Path,
                                                   kafka_settings: KafkaSettings) -> None:
    rig = await start_rig(tmp_path, kafka_settings, seed=21, scenario="baseline", speed=20.0,
                          devices=DEVICES)
    try:
        await rig.home.clock.sleep_until(12 * 60)  # 12 simulated minutes
        ecg_started = rig.home.wearables[DeviceType.ECG_PATCH].ecg_start
        status = await rig.finish()
    finally:
        await rig.stop()

    envs = await read_envelopes(kafka_settings, rig.config.gateway_id)
    by_device = arrived_by_device(envs)
    assert set(by_device) == {d.id for d in rig.config.devices}
    emitted = defaultdict(list)
    for e in rig.log.items:
        emitted[(e.device, e.metric)].append(e)

    for device in rig.config.devices:
        device_envs = by_device[device.id]
        # The right envelope: this gateway, subject, device type; contiguous, ordered ranges.
        assert all(e.subject == rig.config.subject and e.device_type == device.type.value
                   for e in device_envs)
        assert len({e.batch_id for e in device_envs}) == len(device_envs)
        ranges = [(e.seq_from, e.seq_to) for e in device_envs]
        assert ranges == sorted(ranges)
        assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(ranges))

        readings = [r for e in device_envs for r in e.readings]
        serial = device.serial
        for metric in {e.metric for e in rig.log.items if e.device == serial} - {"ecg_samples"}:
            got = [r.value for r in readings if r.metric == metric]
            want = [e.value for e in emitted[(serial, metric)]]
            if device.type in (DeviceType.CGM, DeviceType.GLUCOSE_METER) and metric == "glucose":
                assert sorted(got) == sorted(want), (device.id, metric)  # records: once each
                assert len({r.seq for r in readings if r.metric == metric}) == len(got)
            else:
                assert got == want, (device.id, metric)  # once each, in order
                seqs = [r.seq for r in readings if r.metric == metric]
                assert seqs == sorted(set(seqs)), (device.id, metric)  # gateway order
        if device.type == DeviceType.ECG_PATCH:
            samples = sum(len(s.samples) for e in device_envs for s in e.segments)
            assert samples == sum(e.value for e in emitted[(serial, "ecg_samples")])
            # Streamed without a gap since the gateway's PMD start (how soon that came
            # depends on the machine's load: 20x makes seconds of set-up minutes).
            assert ecg_started is not None and ecg_started < 6 * 60
            assert samples >= (12 * 60 - ecg_started - 1) * 130
    assert all(d.malformed == {} for d in status.devices)
    assert status.upload.batches_sent >= len(envs)
