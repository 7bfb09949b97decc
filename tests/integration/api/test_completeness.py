"""Completeness over HTTP and protocol deviations for days below the study's minimums."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from devices.model import Observation
from storage.completeness import refresh_hours
from storage.readings import ReadingWriter
from tests.integration.api.conftest import Api

pytestmark = pytest.mark.integration


async def test_daily_completeness_site_rollup_and_deviations(api: Api) -> None:
    day = (datetime.now(UTC) - timedelta(days=2)).replace(hour=0, minute=0, second=0,
                                                           microsecond=0)
    async with await psycopg.AsyncConnection.connect(api.dsn) as conn:
        await conn.execute("UPDATE studies SET settings = %s::jsonb WHERE code = 'ST-1'",
                           (json.dumps({"min_daily_wear_minutes": 120}),))
        await conn.execute("UPDATE enrollments SET valid = tstzrange(%s, NULL)", (day,))
        # S-1's watch: 90 minutes of 1 Hz heart rate that day; S-2: nothing.
        rows = [Observation(time=day + timedelta(seconds=s), subject="S-1", device_id="W-1",
                            metric="heart_rate", value=70, unit="/min", seq=s,
                            received_at=day + timedelta(seconds=s)) for s in range(90 * 60)]
        async with conn.transaction():
            await ReadingWriter(mode="partitioned").write_readings(conn, rows)
            await refresh_hours(conn, [day + timedelta(hours=h) for h in range(24)])
    monitor = api.headers("monitor")
    params = {"start": day.date().isoformat(), "end": day.date().isoformat()}
    daily = (await api.client.get("/v1/studies/ST-1/completeness",
                                  params={**params, "subject": "S-1"}, headers=monitor)).json()
    watch = next(d for d in daily if d["device_id"] == "W-1")
    assert (watch["wear_minutes"], watch["enrolled_minutes"]) == (90, 1440)
    assert watch["gateway_offline_minutes"] == 1440 - 90  # no gateway heartbeats at all
    sites = (await api.client.get("/v1/studies/ST-1/completeness/sites", params=params,
                                  headers=api.headers("analyst"))).json()
    assert sites[0]["site"] == "SITE-1" and sites[0]["subjects"] == 2
    found = (await api.client.get("/v1/studies/ST-1/deviations", headers=monitor)).json()
    assert [(d["subject"], d["kind"], d["observed"]) for d in found] == [
        ("S-1", "wear_time", 90.0), ("S-2", "wear_time", 0.0)]
    first = found[0]["id"]
    acked = await api.client.post(f"/v1/studies/ST-1/deviations/{first}/acknowledge",
                                  headers=monitor)
    assert acked.json()["status"] == "acknowledged"
    again = await api.client.post(f"/v1/studies/ST-1/deviations/{first}/acknowledge",
                                  headers=monitor)
    assert again.status_code == 409
    # Listing again detects nothing new and keeps one row per subject and day.
    assert len((await api.client.get("/v1/studies/ST-1/deviations", headers=monitor)).json()) == 2
    inverted = await api.client.get("/v1/studies/ST-1/completeness", headers=monitor,
                                    params={"start": "2026-11-25", "end": "2026-11-24"})
    assert inverted.status_code == 422 and inverted.json()["detail"] == "end is before start"
