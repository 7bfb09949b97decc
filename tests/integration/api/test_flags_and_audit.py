"""The flag queue over HTTP: filters, the review lifecycle, its audit trail, verification."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from storage import flags as flag_store
from stream.contract.flag import Flag
from tests.integration.api.conftest import Api

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 25, 8, tzinfo=UTC)


async def seed_flags(api: Api) -> list[int]:
    ids = []
    async with await psycopg.AsyncConnection.connect(api.dsn) as conn:
        for i, (subject, rule, severity) in enumerate([
                ("S-1", "hr_tachycardia", "high"), ("S-2", "glucose_hypo_l2", "high"),
                ("S-1", "battery_low", "info")]):
            flag_id, _ = await flag_store.store(conn, Flag(
                study="ST-1", subject=subject, device_id=None, metric=None, rule_id=rule,
                rule_version=1, severity=severity, window_start=T0 + timedelta(hours=i),
                window_end=T0 + timedelta(hours=i, minutes=5), raised_at=T0, raised_on="live"))
            ids.append(flag_id)
        await conn.commit()
    return ids


async def test_filters_and_paging(api: Api) -> None:
    ids = await seed_flags(api)
    monitor = api.headers("monitor")
    everything = (await api.client.get("/v1/studies/ST-1/flags", headers=monitor)).json()
    assert [f["id"] for f in everything] == sorted(ids, reverse=True)
    high = await api.client.get("/v1/studies/ST-1/flags", params={"severity": "high", "subject": "S-1"},
                                headers=monitor)
    assert [f["rule_id"] for f in high.json()] == ["hr_tachycardia"]
    page = await api.client.get("/v1/studies/ST-1/flags", params={"limit": 2}, headers=monitor)
    rest = await api.client.get("/v1/studies/ST-1/flags",
                                params={"before": page.json()[-1]["id"]}, headers=monitor)
    assert [f["id"] for f in page.json() + rest.json()] == sorted(ids, reverse=True)
    bad = await api.client.get("/v1/studies/ST-1/flags", params={"status": "gone"}, headers=monitor)
    assert bad.status_code == 422 and "unknown status" in bad.json()["detail"]


async def test_lifecycle_is_audited_and_the_chain_verifies(api: Api) -> None:
    flag_id = (await seed_flags(api))[0]
    url = f"/v1/studies/ST-1/flags/{flag_id}/transitions"
    monitor = api.headers("monitor")
    early = await api.client.post(url, json={"action": "resolve", "reason_code": "data_error"},
                                  headers=monitor)
    assert early.status_code == 409 and early.json()["detail"] == "cannot resolve a flag that is open"
    no_reason = await api.client.post(url, json={"action": "resolve"}, headers=monitor)
    assert no_reason.status_code == 422 and "needs a reason_code" in no_reason.text
    ack = await api.client.post(url, json={"action": "acknowledge", "note": "calling the site"},
                                headers=monitor)
    assert ack.status_code == 200 and ack.json()["status"] == "acknowledged"
    done = await api.client.post(url, json={"action": "resolve", "reason_code": "clinically_reviewed"},
                                 headers=monitor)
    assert done.json()["status"] == "resolved"
    history = (await api.client.get(f"/v1/studies/ST-1/flags/{flag_id}/history",
                                    headers=monitor)).json()
    assert [(h["action"], h["reason"], h["details"]["to"]) for h in history] == [
        ("resolve", "clinically_reviewed", "resolved"), ("acknowledge", None, "acknowledged")]
    assert history[0]["role"] == "monitor"
    verified = await api.client.get("/v1/audit/verify", headers=api.headers("admin"))
    assert verified.json() == {"ok": True, "entries": 2, "first_bad_id": None, "problem": None}
    # Another study's flag is not reachable through this study.
    assert (await api.client.post("/v1/studies/ST-1/flags/999999/transitions",
                                  json={"action": "acknowledge"}, headers=monitor)).status_code == 404


async def test_reads_of_subject_data_are_logged(api: Api) -> None:
    params = {"metric": "heart_rate", "start": "2026-11-25T08:00:00Z",
              "end": "2026-11-25T09:00:00Z", "buckets": 10}
    read = await api.client.get("/v1/studies/ST-1/subjects/S-1/readings", params=params,
                                headers=api.headers("edc"))
    assert read.status_code == 200
    log = (await api.client.get("/v1/studies/ST-1/access-log", headers=api.headers("admin"))).json()
    assert [(e["role"], e["action"], e["subject"]) for e in log] == [("edc", "readings", "S-1")]
    assert log[0]["details"]["buckets"] == 10
