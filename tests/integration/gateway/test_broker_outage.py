"""Broker down for 5 simulated minutes: the spool grows, then drains; nothing is lost and
only identical re-sends can appear twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.services import EmbeddedBroker, EmbeddedObjectStore
from devices.catalog import DeviceType
from stream.kafka.settings import KafkaSettings
from tests.integration.gateway.harness import assert_delivered, read_envelopes, start_rig

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def test_broker_outage_pauses_and_resumes_upload(tmp_path: Path) -> None:
    store = EmbeddedObjectStore(tmp_path / "s3")
    store.start()
    broker = EmbeddedBroker(tmp_path / "broker", storage="s3", object_store=store)
    broker.start()
    kafka = KafkaSettings(bootstrap=broker.bootstrap, embedded_broker=True)
    rig = None
    try:
        rig = await start_rig(tmp_path, kafka, seed=41, scenario="baseline", speed=20.0,
                              devices=(DeviceType.SMARTWATCH, DeviceType.GLUCOSE_METER,
                                       DeviceType.ECG_PATCH))
        await rig.home.clock.sleep_until(3 * 60)
        broker.kill()
        before = rig.gateway.spool.depth().unbatched + rig.gateway.spool.depth().batches_built
        await rig.home.clock.sleep_until(8 * 60)  # 5 simulated minutes without a broker
        during = rig.gateway.status()
        assert during.upload.broker_reachable is False
        grown = during.spool.unbatched + during.spool.batches_unacknowledged
        assert grown > before
        broker.start()  # same port, same (persistent) data
        await rig.home.clock.sleep_until(11 * 60)
        after = await rig.finish(timeout=120)
        assert after.upload.broker_reachable is True
        assert after.spool.batches_unacknowledged == 0
    finally:
        if rig is not None:
            await rig.stop()
    try:
        envs = await read_envelopes(kafka, rig.config.gateway_id, timeout=30)
        assert_delivered(rig.config, rig.log.items, envs)
    finally:
        broker.stop()
        store.stop()
