"""``trialwire stream worker`` end to end: real broker, real PostgreSQL, worker processes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from stream.kafka.settings import KafkaSettings
from tests.integration.stream.seed import seed_study
from tests.integration.stream.worker_harness import (
    T0,
    StreamRig,
    create_topics,
    hr_envelope,
    scalar,
    wait_for,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def rig(migrated_dsn: str, kafka_settings: KafkaSettings, unique_name: str,
              tmp_path: Path) -> AsyncIterator[StreamRig]:
    kafka = kafka_settings.model_copy(update={"topic_prefix": unique_name})
    await create_topics(kafka)
    async with await psycopg.AsyncConnection.connect(migrated_dsn) as conn:
        await seed_study(conn, subjects=2, start=T0)
    rig = StreamRig(kafka, migrated_dsn, tmp_path, f"{unique_name}-stream")
    try:
        yield rig
    finally:
        rig.stop_all()


async def readings(dsn: str) -> int:
    return int(await scalar(dsn, "SELECT count(*) FROM readings"))


async def test_valid_duplicate_out_of_order_late_and_malformed_envelopes(rig: StreamRig) -> None:
    rig.start_worker()
    first = hr_envelope(0, [70.0] * 10)
    values = [
        first, first,  # a duplicate on the wire
        hr_envelope(20, [71.0] * 10),  # out of order: 10..19 comes later
        hr_envelope(10, [72.0] * 10),
        hr_envelope(0, [73.0] * 5, device="W-2", subject="S-2", gateway="GW-2"),
        b'{"schema_version": 1, "batch_id": "x"}',  # malformed
        hr_envelope(30, [300.0, 70.0]),  # one implausible value
        hr_envelope(0, [70.0] * 3, device="W-9"),  # not enrolled
    ]
    await rig.produce(values[:5])
    await rig.produce(values[5:6], key=b"S-2")
    await rig.produce(values[6:])

    async def stored() -> bool:
        return await readings(rig.dsn) == 36
    await wait_for(stored, timeout=90, what="36 readings stored", rig=rig)
    # Late: reading 32 measured 30 s before the readings already stored (event time).
    await rig.produce([hr_envelope(32, [69.0], start=T0 - timedelta(seconds=30))])

    async def late_stored() -> bool:
        return await readings(rig.dsn) == 37
    await wait_for(late_stored, timeout=60, what="the late reading stored", rig=rig)
    dead = await rig.read(rig.kafka.topics.dead_letter, minimum=3)
    reasons = sorted(dict(r.headers)["reason"].decode() for r in dead)
    assert reasons == ["implausible_value", "invalid_envelope", "not_enrolled"]
    marks = await rig.read(rig.kafka.topics.watermarks, minimum=1)
    latest = {}
    for record in marks:
        body = json.loads(record.value)
        latest.setdefault(body["gateway_id"], {}).update(body["devices"])
    assert latest["GW-1"] == {"W-1": 32, "W-9": 2}
    assert latest["GW-2"] == {"W-2": 4}
    flags = await scalar(rig.dsn, "SELECT array_agg(rule_id) FROM flags")
    assert flags == ["impossible_value"]
