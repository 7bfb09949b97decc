"""Sponsor analytics: daily mean heart rate and glucose time in range by site and arm."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import polars as pl
import psycopg
import pytest

from devices.model import Observation
from tests.fixtures.postgres import writer_for
from tests.integration.api.conftest import Api

pytestmark = pytest.mark.integration

DAY = datetime(2026, 11, 20, tzinfo=UTC)


async def test_aggregates_by_site_and_arm_in_three_formats(api: Api) -> None:
    rows = []
    for n, (subject, hr) in enumerate((("S-1", 60.0), ("S-2", 80.0))):
        rows += [Observation(time=DAY + timedelta(seconds=s), subject=subject,
                             device_id=f"W-{n + 1}", metric="heart_rate", value=hr, unit="/min",
                             seq=s, received_at=DAY) for s in range(600)]
    # S-1's CGM: 3 of 4 readings in 70-180, 1 below.
    rows += [Observation(time=DAY + timedelta(minutes=5 * i), subject="S-1", device_id="C-1",
                         metric="glucose", value=v, unit="mg/dL", seq=i, received_at=DAY)
             for i, v in enumerate([65.0, 100.0, 150.0, 180.0])]
    async with await psycopg.AsyncConnection.connect(api.dsn) as conn:
        await conn.execute("UPDATE subjects SET arm = CASE code WHEN 'S-1' THEN 'A' ELSE 'B' END")
        async with conn.transaction():
            await (await writer_for(conn)).write_readings(conn, rows)
    analyst = api.headers("analyst")
    base = {"start": "2026-11-20", "end": "2026-11-20"}
    by_site = (await api.client.get("/v1/studies/ST-1/analytics", headers=analyst,
                                    params={**base, "measure": "daily_mean_hr"})).json()
    assert [(r["site"], r["mean"], r["subjects"]) for r in by_site] == [("SITE-1", 70.0, 2)]
    by_arm = (await api.client.get("/v1/studies/ST-1/analytics", headers=analyst, params={
        **base, "measure": "time_in_range", "group_by": "arm", "format": "csv"})).text
    assert by_arm.splitlines() == ["arm,day,mean,min,max,subjects", "A,2026-11-20,75.0,75.0,75.0,1"]
    parquet = await api.client.get("/v1/studies/ST-1/analytics", headers=analyst, params={
        **base, "measure": "time_below_range", "group_by": "subject", "format": "parquet"})
    frame = pl.read_parquet(io.BytesIO(parquet.content))
    assert frame.to_dicts()[0]["mean"] == 25.0 and set(frame.columns) == {
        "subject", "day", "mean", "min", "max", "subjects"}
    readings = await api.client.get("/v1/studies/ST-1/subjects/S-1/readings", headers=analyst,
                                    params={"metric": "heart_rate", **base})
    assert readings.status_code == 403  # analysts see aggregates, not subject-level rows
