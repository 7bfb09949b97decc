"""Readings over HTTP: raw pages with a keyset cursor, downsampled buckets, latest values,
and clear 4xx answers to bad parameters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from devices.model import Observation
from tests.fixtures.postgres import writer_for
from tests.integration.api.conftest import Api

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 25, 8, tzinfo=UTC)


async def store_heart_rate(dsn: str, seconds: int) -> None:
    rows = [Observation(time=T0 + timedelta(seconds=s), subject="S-1", device_id="W-1",
                        metric="heart_rate", value=60 + s % 20, unit="/min", seq=s,
                        received_at=T0 + timedelta(seconds=s)) for s in range(seconds)]
    async with await psycopg.AsyncConnection.connect(dsn) as conn, conn.transaction():
        await (await writer_for(conn)).write_readings(conn, rows)


async def test_pages_cover_the_range_without_gaps_or_repeats(api: Api) -> None:
    await store_heart_rate(api.dsn, 250)
    url = "/v1/studies/ST-1/subjects/S-1/readings"
    params: dict[str, object] = {"metric": "heart_rate", "start": T0.isoformat(),
                                 "end": (T0 + timedelta(hours=1)).isoformat(), "limit": 100}
    seen: list[int] = []
    while True:
        page = (await api.client.get(url, params=params, headers=api.headers("monitor"))).json()
        seen += [r["seq"] for r in page["items"]]
        if page["next"] is None:
            break
        params["after"] = page["next"]
    assert seen == list(range(250))


async def test_buckets_latest_and_bad_parameters(api: Api) -> None:
    await store_heart_rate(api.dsn, 600)
    url = "/v1/studies/ST-1/subjects/S-1/readings"
    window = {"start": T0.isoformat(), "end": (T0 + timedelta(minutes=10)).isoformat()}
    monitor = api.headers("monitor")
    buckets = (await api.client.get(url, params={"metric": "heart_rate", "buckets": 5, **window},
                                    headers=monitor)).json()["buckets"]
    assert [b["count"] for b in buckets] == [120] * 5
    assert (buckets[0]["min"], buckets[0]["max"]) == (60, 79)
    latest = (await api.client.get("/v1/studies/ST-1/subjects/S-1/latest",
                                   params={"metric": "heart_rate"}, headers=monitor)).json()
    assert latest["heart_rate"]["seq"] == 599
    unknown = await api.client.get(url, params={"metric": "mood", **window}, headers=monitor)
    assert unknown.status_code == 422 and "unknown metric 'mood'" in unknown.json()["detail"]
    inverted = await api.client.get(url, params={"metric": "heart_rate", "start": window["end"],
                                                 "end": window["start"]}, headers=monitor)
    assert inverted.status_code == 422 and "must be after start" in inverted.json()["detail"]
    naive = await api.client.get(url, params={"metric": "heart_rate", "start": "2026-11-25T08:00:00",
                                              "end": window["end"]}, headers=monitor)
    assert naive.status_code == 422
    cursor = await api.client.get(url, params={"metric": "heart_rate", "after": "!!", **window},
                                  headers=monitor)
    assert cursor.status_code == 422 and "not a cursor" in cursor.json()["detail"]
    elsewhere = await api.client.get("/v1/studies/ST-1/subjects/X-1/readings",
                                     params={"metric": "heart_rate", **window}, headers=monitor)
    assert elsewhere.status_code == 404


async def test_ecg_segments_as_json_and_binary(api: Api) -> None:
    import json

    import numpy as np

    from devices.model import WaveformSegment

    segments = [WaveformSegment(time=T0 + timedelta(seconds=i * 73 / 130), subject="S-1",
                                device_id="E-1", lead="I", sampling_rate_hz=130.0,
                                samples=[float(i * 100 + k) for k in range(73)], seq=i,
                                received_at=T0) for i in range(3)]
    async with await psycopg.AsyncConnection.connect(api.dsn) as conn, conn.transaction():
        await (await writer_for(conn)).write_segments(conn, segments)
    url = "/v1/studies/ST-1/subjects/S-1/ecg"
    window = {"start": T0.isoformat(), "end": (T0 + timedelta(minutes=1)).isoformat()}
    as_json = (await api.client.get(url, params=window, headers=api.headers("monitor"))).json()
    assert [len(s["samples"]) for s in as_json] == [73, 73, 73]
    assert as_json[2]["samples"][0] == 200.0
    binary = await api.client.get(url, params={**window, "format": "binary"},
                                  headers=api.headers("monitor"))
    samples = np.frombuffer(binary.content, dtype="<f4")
    assert len(samples) == 219 and samples[73] == 100.0
    assert [s["count"] for s in json.loads(binary.headers["X-Segments"])] == [73, 73, 73]
    too_long = await api.client.get(url, headers=api.headers("monitor"), params={
        "start": T0.isoformat(), "end": (T0 + timedelta(hours=1)).isoformat()})
    assert too_long.status_code == 422
