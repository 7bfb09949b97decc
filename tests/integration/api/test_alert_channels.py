"""Alert channels over HTTP: a study admin adds and switches them (audited, the signing
key shown once), monitors read them, bad input is a clear 422, and each flag's delivery
log is readable."""

from __future__ import annotations

import psycopg
import pytest

from storage import alerts, audit
from tests.integration.api.conftest import Api
from tests.integration.api.test_flags_and_audit import seed_flags

pytestmark = [pytest.mark.integration, pytest.mark.one_storage_mode]  # no readings

URL = "/v1/studies/ST-1/alert-channels"
PAGER = {"name": "cro pager", "kind": "webhook", "target": "https://cro.example/hooks/tw",
         "min_severity": "high", "rules": ["hr_tachycardia"],
         "quiet": {"start": "22:00", "end": "07:00", "zone": "Europe/Paris"},
         "reason": "CRO on-call pager for the study"}


async def test_an_admin_adds_a_channel_once_and_its_key_is_shown_only_then(api: Api) -> None:
    admin, monitor = api.headers("admin"), api.headers("monitor")
    created = await api.client.post(URL, json=PAGER, headers=admin)
    assert created.status_code == 201, created.text
    body = created.json()
    assert len(body["signing_secret"]) > 30 and body["quiet"]["zone"] == "Europe/Paris"
    assert body["on_call"] is None  # always on call unless given hours
    again = await api.client.post(URL, json=PAGER, headers=admin)
    assert again.status_code == 409 and "already has a channel" in again.json()["detail"]
    assert (await api.client.post(URL, json=PAGER, headers=monitor)).status_code == 403
    listed = (await api.client.get(URL, headers=monitor)).json()
    assert [c["name"] for c in listed] == ["cro pager"]
    assert "signing_secret" not in listed[0]
    other = await api.client.get("/v1/studies/ST-2/alert-channels", headers=monitor)
    assert other.status_code == 403  # a token of ST-1 sees no other study's channels

    off = await api.client.post(f"{URL}/{body['id']}/switch",
                                json={"enabled": False, "reason": "pager replaced"}, headers=admin)
    assert off.status_code == 200 and off.json()["enabled"] is False
    missing = await api.client.post(f"{URL}/999999/switch",
                                    json={"enabled": True, "reason": "x"}, headers=admin)
    assert missing.status_code == 404
    async with await psycopg.AsyncConnection.connect(api.dsn) as conn:
        entries = await audit.entries(conn, entity_type="alert_channel",
                                      entity_id=str(body["id"]))
    assert [(e["action"], e["reason"]) for e in entries] == [
        ("disable", "pager replaced"), ("create", "CRO on-call pager for the study")]


@pytest.mark.parametrize(("change", "says"), [
    ({"target": "http://cro.example/hook"}, "https:// URL"),
    ({"kind": "email", "target": "not-an-address"}, "one address"),
    ({"quiet": {"start": "22:00", "end": "07:00", "zone": "Mars/Olympus"}}, "unknown time zone"),
    ({"quiet": {"start": "07:00", "end": "07:00", "zone": "UTC"}}, "differ"),
    ({"on_call": {"start": "08:00", "end": "20:00", "zone": "Nowhere/Land"}}, "unknown time zone"),
    ({"min_severity": "urgent"}, "min_severity"),
    ({"reason": ""}, "reason"),
    ({"escalate_after_min": -1}, "escalate_after_min"),
    ({"escalate_after_min": 10_081}, "escalate_after_min"),
    ({"target": "https://x.example/\u0000"}, "control character"),
])
async def test_bad_channels_are_refused_with_the_reason(api: Api, change: dict[str, object],
                                                        says: str) -> None:
    answer = await api.client.post(URL, json={**PAGER, **change}, headers=api.headers("admin"))
    assert answer.status_code == 422 and says in answer.text, answer.text


async def test_a_flags_delivery_log_is_readable_by_its_reviewers(api: Api) -> None:
    flag_id = (await seed_flags(api))[0]
    async with await psycopg.AsyncConnection.connect(api.dsn) as conn:
        channel = await alerts.create_channel(conn, study="ST-1", name="hook", kind="webhook",
                                              target="https://hooks.example/x")
        flags = await alerts.unplanned_flags(conn, limit=10)
        await alerts.plan_deliveries(conn, flag_ids=[f.id for f in flags], deliveries=[
            (f, channel, f.created_at) for f in flags if f.id == flag_id])
        await conn.commit()
    url = f"/v1/studies/ST-1/flags/{flag_id}/deliveries"
    log = await api.client.get(url, headers=api.headers("monitor"))
    assert log.status_code == 200
    assert [(d["channel"], d["status"], d["attempts"]) for d in log.json()] == [
        ("hook", "pending", 0)]
    assert (await api.client.get(url, headers=api.headers("analyst"))).status_code == 403


async def test_escalating_a_flag_by_hand_makes_the_next_levels_alert_due_now(api: Api) -> None:
    created = await api.client.post(URL, json={**PAGER, "name": "investigator", "quiet": None,
                                               "on_call": {"start": "20:00", "end": "08:00",
                                                           "zone": "Europe/Paris"},
                                               "min_severity": "info", "rules": [],
                                               "escalate_after_min": 30},
                                    headers=api.headers("admin"))
    assert created.status_code == 201 and created.json()["escalate_after_min"] == 30
    assert created.json()["on_call"] == {"start": "20:00:00", "end": "08:00:00",
                                         "zone": "Europe/Paris"}
    flag_id = (await seed_flags(api))[0]
    async with await psycopg.AsyncConnection.connect(api.dsn) as conn:
        [channel] = await alerts.channels(conn, study="ST-1")
        flags = await alerts.unplanned_flags(conn, limit=10)
        await alerts.plan_deliveries(conn, flag_ids=[f.id for f in flags], deliveries=[
            (f, channel, f.created_at.replace(year=2100)) for f in flags if f.id == flag_id])
        await conn.commit()
    url = f"/v1/studies/ST-1/flags/{flag_id}"
    [before] = (await api.client.get(f"{url}/deliveries", headers=api.headers("monitor"))).json()
    assert before["escalation"] is True and before["next_attempt_at"].startswith("2100")
    moved = await api.client.post(f"{url}/transitions", json={"action": "escalate"},
                                  headers=api.headers("monitor"))
    assert moved.status_code == 200 and moved.json()["status"] == "escalated"
    [after] = (await api.client.get(f"{url}/deliveries", headers=api.headers("monitor"))).json()
    assert after["status"] == "pending" and not after["next_attempt_at"].startswith("2100")
