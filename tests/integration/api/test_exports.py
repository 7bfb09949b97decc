"""Incremental EDC exports: pages in ingestion order, no gaps and no repeats across pages,
a crash-and-resume returns the same page, late (backfilled) readings still come out;
FHIR bundles validate against the FHIR models, ODM has the documented structure."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import msgspec
import psycopg
import pytest
from fhir.resources.R4B.bundle import Bundle

from devices.model import Observation
from tests.fixtures.postgres import writer_for
from tests.integration.api.conftest import Api

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 25, 8, tzinfo=UTC)
URL = "/v1/studies/ST-1/exports"


async def store(dsn: str, rows: list[Observation]) -> None:
    async with await psycopg.AsyncConnection.connect(dsn) as conn, conn.transaction():
        await (await writer_for(conn)).write_readings(conn, rows)


def heart_rate(seconds: range, subject: str = "S-1") -> list[Observation]:
    return [Observation(time=T0 + timedelta(seconds=s), subject=subject, device_id="W-1",
                        metric="heart_rate", value=70 + s % 7, unit="/min", seq=s,
                        received_at=T0 + timedelta(seconds=s)) for s in seconds]


def glucose(minutes: range) -> list[Observation]:
    return [Observation(time=T0 + timedelta(minutes=m), subject="S-2", device_id="C-2",
                        metric="glucose", value=100 + m, unit="mg/dL", seq=m,
                        received_at=T0 + timedelta(minutes=m), specimen="interstitial_fluid")
            for m in range(0, 50, 5) if m in minutes]


async def drain(api: Api, fmt: str, after: str | None, limit: int) -> tuple[list, str | None]:
    pages, cursor = [], after
    while True:
        params = {"limit": limit, **({"after": cursor} if cursor else {})}
        response = await api.client.get(f"{URL}/{fmt}", params=params, headers=api.headers("edc"))
        assert response.status_code == 200, response.text
        if response.headers["X-Export-Rows"] == "0":
            return pages, cursor
        pages.append(response)
        cursor = response.headers["X-Next-Cursor"]


async def test_fhir_pages_cover_everything_once_and_resume(api: Api) -> None:
    await store(api.dsn, heart_rate(range(250)) + glucose(range(0, 50)))
    pages, cursor = await drain(api, "fhir", None, 100)
    keys = []
    for page in pages:
        parsed = Bundle.model_validate_json(page.content)  # FHIR model validation
        assert parsed.type == "transaction"
        keys += [e.resource.identifier[0].value for e in parsed.entry]
    assert len(keys) == len(set(keys)) == 260
    glucose_obs = [e for e in pages[-1].json()["entry"]
                   if e["resource"]["code"]["text"] == "glucose"]
    assert glucose_obs[0]["resource"]["code"]["coding"][0]["code"] == "99504-3"  # ISF glucose
    assert glucose_obs[0]["resource"]["valueQuantity"]["system"] == "http://unitsofmeasure.org"
    # The job crashed after storing page 2 but before saving its cursor: page 2 again, same.
    second_cursor = pages[0].headers["X-Next-Cursor"]
    again = await api.client.get(f"{URL}/fhir", params={"limit": 100, "after": second_cursor},
                                 headers=api.headers("edc"))
    assert again.content == pages[1].content
    # Late data: a backfilled reading measured before everything exported so far.
    late_reading = heart_rate(range(1))[0]
    await store(api.dsn, [msgspec.structs.replace(late_reading, seq=9999,
                                                  time=T0 - timedelta(seconds=60))])
    late, _ = await drain(api, "fhir", cursor, 100)
    assert [e["resource"]["identifier"][0]["value"] for p in late for e in p.json()["entry"]] == [
        f"W-1|heart_rate|{(T0 - timedelta(seconds=60)).isoformat()}|9999"]


async def test_odm_and_csv_formats(api: Api) -> None:
    await store(api.dsn, heart_rate(range(3)) + glucose(range(0, 10)))
    odm = await api.client.get(f"{URL}/odm", headers=api.headers("edc"))
    assert odm.headers["content-type"].startswith("application/xml")
    ns = {"odm": "http://www.cdisc.org/ns/odm/v1.3"}
    root = ET.fromstring(odm.content)
    assert root.get("ODMVersion") == "1.3.2"
    subjects = root.findall("odm:ClinicalData/odm:SubjectData", ns)
    assert [s.get("SubjectKey") for s in subjects] == ["S-1", "S-2"]
    groups = root.findall(".//odm:ItemGroupData", ns)
    assert len(groups) == 5
    assert {g.get("ItemGroupOID") for g in groups} == {"IG.HEART_RATE", "IG.GLUCOSE"}
    first = groups[0].findall("odm:ItemData", ns)
    assert [i.get("ItemOID") for i in first] == ["IT.TIME", "IT.VALUE", "IT.UNIT", "IT.DEVICE"]
    assert subjects[0].find("odm:SiteRef", ns).get("LocationOID") == "SITE-1"
    text = (await api.client.get(f"{URL}/csv", headers=api.headers("edc"))).text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 5 and rows[0]["subject"] in ("S-1", "S-2")
    bad = await api.client.get(f"{URL}/csv", params={"after": "garbage"}, headers=api.headers("edc"))
    assert bad.status_code == 422 and "not an export cursor" in bad.json()["detail"]
    assert (await api.client.get(f"{URL}/xlsx", headers=api.headers("edc"))).status_code == 422
