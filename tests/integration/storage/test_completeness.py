"""Hourly completeness: expected vs received per metric, wear minutes, and each missing
minute attributed to the gateway being offline, an upload backlog, or a silent device."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from deploy.bench.seed import seed_study
from devices.model import Observation
from storage.completeness import record_heartbeat, refresh_hours
from tests.fixtures.postgres import writer_for

pytestmark = pytest.mark.integration

H = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


async def test_an_hour_with_each_kind_of_gap(db: psycopg.AsyncConnection[object]) -> None:
    await seed_study(db, subjects=1, start=H)
    # The watch sends 1 Hz heart rate in minutes 0-29 only.
    rows = [Observation(time=H + timedelta(seconds=s), subject="S-1", device_id="W-1",
                        metric="heart_rate", value=70, unit="/min", seq=s,
                        received_at=H + timedelta(seconds=s)) for s in range(0, 30 * 60)]
    async with db.transaction():
        await (await writer_for(db)).write_readings(db, rows)

    async def beat(minute: float, last_reading_min: float) -> None:
        last = (H + timedelta(minutes=last_reading_min)).isoformat()
        await record_heartbeat(db, gateway_id="GW-1", at=H + timedelta(minutes=minute),
                               subject="S-1", broker_reachable=True, spool_items=0,
                               unpersisted=0,
                               devices=json.dumps({"W-1": {"last_reading_at": last}}))

    # Heartbeats every 30 s until minute 44.5; then nothing: minutes 46-59 are offline
    # (minute 45 still has the 44.5 heartbeat within 30 s, and counts as device silent).
    # Minutes 30-39: the gateway had nothing new from the watch (device silent);
    # minutes 40-44: it had readings the database does not (upload backlog).
    for half in range(0, 2 * 45):
        minute = half / 2
        await beat(minute, min(minute, 29.99) if minute < 40 else minute)
    await db.commit()
    assert await refresh_hours(db, [H + timedelta(minutes=17)]) > 0
    await refresh_hours(db, [H])  # idempotent
    cur = await db.execute(
        "SELECT metric, expected, received, wear_minutes, enrolled_minutes,"
        " device_silent_minutes, upload_backlog_minutes, gateway_offline_minutes"
        " FROM completeness_hourly WHERE device_id = 'W-1' ORDER BY metric")
    by_metric = {r[0]: r[1:] for r in await cur.fetchall()}
    assert set(by_metric) == {"body_temperature", "heart_rate", "pulse_rate", "spo2"}
    assert by_metric["heart_rate"] == (3600.0, 1800, 30, 60, 11, 5, 14)
    assert by_metric["spo2"][:2] == (3600.0, 0)  # expected but never sent
