"""The study overview route behind the monitoring page, and the page's static files."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from api.web.mount import STATIC
from deploy.bench.seed import STUDY
from storage import stream_health
from tests.integration.api.conftest import Api
from tests.integration.api.monitoring_data import SUBJECT, write_recent_data

pytestmark = pytest.mark.integration


async def test_overview_shows_vitals_flags_gateway_and_devices(api: Api) -> None:
    await write_recent_data(api.dsn)
    response = await api.client.get(f"/v1/studies/{STUDY}/overview", headers=api.headers("monitor"))
    assert response.status_code == 200
    body = response.json()
    rows = {s["code"]: s for s in body["subjects"]}
    assert sorted(rows) == ["S-1", "S-2"]  # the other study's subject is not listed
    s1 = rows[SUBJECT]
    assert set(s1["latest"]) == {"heart_rate", "glucose", "spo2", "body_temperature"}
    assert s1["latest"]["body_temperature"]["value"] == 36.8
    assert s1["open_flags"] == 1
    gateway = s1["gateway"]
    assert (gateway["id"], gateway["online"], gateway["broker_reachable"]) == ("GW-1", True, True)
    assert gateway["devices"]["D-1"] == {"connected": False}
    s2 = rows["S-2"]
    assert (s2["latest"], s2["open_flags"], s2["gateway"]["online"]) == ({}, 0, False)
    assert s2["gateway"]["last_heartbeat"] is None

    log = (await api.client.get(f"/v1/studies/{STUDY}/access-log",
                                headers=api.headers("admin"))).json()
    assert log[0]["action"] == "overview" and log[0]["role"] == "monitor"


async def test_overview_shows_stalled_and_lagging_stream_partitions(api: Api) -> None:
    """The page warns while the data pipeline is delayed: what the workers last reported
    of their partitions, stalled first; a report older than two minutes is left out."""
    now = datetime.now(UTC)
    async with await psycopg.AsyncConnection.connect(api.dsn) as conn:
        await stream_health.record(conn, app_id="w", now=now, positions={
            ("raw", 0): (100, 3), ("raw", 1): (50, 4200), ("raw", 2): (70, 0)},
            stalled={("raw", 1): 42.0})
        await stream_health.record(conn, app_id="old", now=now - timedelta(minutes=10),
                                   positions={("raw", 3): (1, 99)}, stalled={})
        await conn.commit()
    body = (await api.client.get(f"/v1/studies/{STUDY}/overview",
                                 headers=api.headers("monitor"))).json()
    assert [(p["partition"], p["lag"], p["stalled_s"]) for p in body["pipeline"]] == [
        (1, 4200, 42.0), (0, 3, None), (2, 0, None)]


async def test_acknowledged_flags_leave_the_open_count(api: Api) -> None:
    _, flag_id = await write_recent_data(api.dsn)
    await api.client.post(f"/v1/studies/{STUDY}/flags/{flag_id}/transitions",
                          json={"action": "acknowledge"}, headers=api.headers("monitor"))
    body = (await api.client.get(f"/v1/studies/{STUDY}/overview",
                                 headers=api.headers("monitor"))).json()
    assert {s["code"]: s["open_flags"] for s in body["subjects"]} == {"S-1": 0, "S-2": 0}


async def test_page_is_served_from_the_package_without_outside_urls(api: Api) -> None:
    root = await api.client.get("/")
    assert root.status_code == 307 and root.headers["location"] == "/monitor/"
    page = await api.client.get("/monitor/")
    assert page.status_code == 200 and "trialwire monitoring" in page.text
    for asset in re.findall(r'(?:src|href)="([^"#:]+)"', page.text):
        fetched = await api.client.get(f"/monitor/{asset}")
        assert fetched.status_code == 200, asset
    # No CDN: nothing in the shipped files loads from another host.
    for path in Path(STATIC).rglob("*"):
        if path.suffix in (".html", ".js", ".css") and "vendor" not in path.parts:
            assert not re.search(r"(src|href|url)\s*[=(]\s*[\"']?https?://", path.read_text()), path
