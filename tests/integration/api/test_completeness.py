"""Completeness over HTTP and protocol deviations for days below the study's minimums."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from fhir.resources.R4B.bundle import Bundle

from devices.model import Observation
from storage.completeness import refresh_hours
from tests.fixtures.postgres import writer_for
from tests.integration.api.conftest import Api

pytestmark = pytest.mark.integration


async def low_wear_day(api: Api) -> datetime:
    """Two days ago: S-1 wore its watch 90 minutes, S-2 nothing; the study asks for 120."""
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
            await (await writer_for(conn)).write_readings(conn, rows)
            await refresh_hours(conn, [day + timedelta(hours=h) for h in range(24)])
    return day


async def test_daily_completeness_site_rollup_and_deviations(api: Api) -> None:
    day = await low_wear_day(api)
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


async def test_deviations_export_incrementally_in_every_format(api: Api) -> None:
    day = await low_wear_day(api)
    url = "/v1/studies/ST-1/exports/deviations"
    edc = api.headers("edc")
    first = await api.client.get(f"{url}/fhir", headers=edc)  # detects, then exports
    assert first.status_code == 200, first.text
    bundle = Bundle.model_validate_json(first.content)  # FHIR model validation
    found = {e.resource.identifier[0].value: e.resource for e in bundle.entry}
    key = f"S-1|{day.date().isoformat()}|wear_time"
    assert sorted(found) == [key, f"S-2|{day.date().isoformat()}|wear_time"]
    assert (float(found[key].valueQuantity.value), found[key].valueQuantity.code) == (90.0, "min")
    assert float(found[key].referenceRange[0].low.value) == 120.0
    assert found[key].note[0].text == "review status: open"
    cursor = first.headers["X-Next-Cursor"]
    # Nothing changed: the next page is empty and the cursor stays.
    idle = await api.client.get(f"{url}/csv", params={"after": cursor}, headers=edc)
    assert (idle.headers["X-Export-Rows"], idle.headers["X-Next-Cursor"]) == ("0", cursor)
    # A monitor acknowledges S-1's day: that deviation (only) is exported again.
    listed = (await api.client.get("/v1/studies/ST-1/deviations", headers=api.headers("monitor"))).json()
    s1 = next(d for d in listed if d["subject"] == "S-1")
    await api.client.post(f"/v1/studies/ST-1/deviations/{s1['id']}/acknowledge",
                          headers=api.headers("monitor"))
    changed = await api.client.get(f"{url}/csv", params={"after": cursor}, headers=edc)
    rows = list(csv.DictReader(io.StringIO(changed.text)))
    assert [(r["subject"], r["kind"], r["status"], r["unit"]) for r in rows] == [
        ("S-1", "wear_time", "acknowledged", "min")]
    odm = await api.client.get(f"{url}/odm", headers=edc)
    ns = {"odm": "http://www.cdisc.org/ns/odm/v1.3"}
    root = ET.fromstring(odm.content)
    groups = root.findall(".//odm:FormData[@FormOID='F.DEVIATION']/odm:ItemGroupData", ns)
    assert {g.get("ItemGroupRepeatKey") for g in groups} == set(found)
    items = {i.get("ItemOID"): i.get("Value") for i in groups[0].findall("odm:ItemData", ns)}
    assert items["IT.KIND"] == "wear_time" and items["IT.DAY"] == day.date().isoformat()
    bad = await api.client.get(f"{url}/csv", params={"after": "garbage"}, headers=edc)
    assert bad.status_code == 422 and "not an export cursor" in bad.json()["detail"]
