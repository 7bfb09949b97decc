"""Registry records read one by one and changed over the API against a real PostgreSQL:
each change needs a reason and is audited with old and new values; bad changes are a
clear 4xx; a device moves to another subject at one instant with no gap and no overlap,
and the stream worker's enrollment check follows it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from storage import audit
from storage.queries.enrollment import all_enrollments
from stream.validation.enrollment import check
from tests.integration.api.conftest import Api

pytestmark = [pytest.mark.integration, pytest.mark.one_storage_mode]  # no readings

BASE = "/v1/studies/ST-1"


async def _trail(api: Api, entity: str, key: str) -> list[dict[str, object]]:
    async with await psycopg.AsyncConnection.connect(api.dsn) as conn:
        return await audit.entries(conn, entity_type=entity, entity_id=key)


async def test_records_are_read_and_changed_with_old_and_new_values_audited(api: Api) -> None:
    admin, monitor = api.headers("admin"), api.headers("monitor")
    assert (await api.client.get(f"{BASE}/subjects/S-1", headers=monitor)).json() == {
        "code": "S-1", "arm": None, "site": "SITE-1"}
    changed = await api.client.patch(f"{BASE}/subjects/S-1",
                                     json={"arm": "placebo", "reason": "randomised"},
                                     headers=admin)
    assert changed.status_code == 200, changed.text
    assert changed.json() == {"entity": "subject", "key": "S-1", "old": {"arm": None},
                              "new": {"arm": "placebo"}}
    [entry] = await _trail(api, "subject", "S-1")
    assert (entry["action"], entry["reason"], entry["details"]["new"]) == (
        "update", "randomised", {"arm": "placebo"})

    study = await api.client.patch(BASE, json={"withdrawal_policy": "delete",
                                               "reason": "protocol amendment 2"}, headers=admin)
    assert study.json()["new"] == {"withdrawal_policy": "delete"}
    device = await api.client.patch(f"{BASE}/devices/W-1", json={"firmware": "2.1.0",
                                                                 "reason": "updated"},
                                    headers=admin)
    assert device.json()["old"] == {"firmware": None}
    gateway = await api.client.patch(f"{BASE}/gateways/GW-2", json={"status": "retired",
                                                                    "reason": "returned"},
                                     headers=admin)
    assert gateway.json()["new"] == {"status": "retired"}
    assert (await api.client.get(f"{BASE}/gateways/GW-2", headers=monitor)).json()["status"] == "retired"
    site = await api.client.patch(f"{BASE}/sites/SITE-1", json={"name": "Lyon", "reason": "r"},
                                  headers=admin)
    assert site.json()["new"] == {"name": "Lyon"}


@pytest.mark.parametrize(("who", "path", "body", "code", "says"), [
    ("monitor", "/subjects/S-1", {"arm": "x", "reason": "r"}, 403, "may not call"),
    ("other:admin", "/subjects/S-1", {"arm": "x", "reason": "r"}, 403, "not valid for study"),
    ("admin", "/subjects/X-1", {"arm": "x", "reason": "r"}, 404, "no subject X-1"),
    ("admin", "/subjects/S-1", {"arm": "x"}, 422, "reason"),
    ("admin", "/subjects/S-1", {"status": "withdrawn", "reason": "r"}, 422, "status"),
    ("admin", "/subjects/S-1", {"site": "SITE-9", "reason": "r"}, 422, "refused by the registry"),
    ("admin", "", {"name": None, "reason": "r"}, 422, "cannot be null"),
    ("admin", "/devices/W-1", {"mac": "nope", "reason": "r"}, 422, "mac"),
    ("admin", "/gateways/GW-1", {"status": "gone", "reason": "r"}, 422, "status"),
])
async def test_bad_changes_are_refused_with_the_reason(api: Api, who: str, path: str,
                                                       body: dict[str, object], code: int,
                                                       says: str) -> None:
    answer = await api.client.patch(f"{BASE}{path}", json=body, headers=api.headers(who))
    assert answer.status_code == code and says in answer.text, answer.text


async def test_a_device_moves_to_another_subject_without_gap_or_overlap(api: Api) -> None:
    admin = api.headers("admin")
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    moved = await api.client.post(f"{BASE}/devices/W-1/move",
                                  json={"subject": "S-2", "gateway_id": "GW-2",
                                        "at": at.isoformat(), "reason": "S-1's watch broke"},
                                  headers=admin)
    assert moved.status_code == 201, moved.text
    listed = (await api.client.get(f"{BASE}/enrollments?device=W-1",
                                   headers=api.headers("monitor"))).json()
    ends = [(e["subject"], datetime.fromisoformat(e["end"]) if e["end"] else None)
            for e in listed]
    assert ends == [("S-1", at), ("S-2", None)]
    assert datetime.fromisoformat(listed[1]["start"]) == at  # the old one's end: no gap
    # The stream worker's check: the watch is S-1's just before, S-2's from the instant on.
    async with await psycopg.AsyncConnection.connect(api.dsn) as conn:
        enrollments = [e for e in await all_enrollments(conn) if e.device_id == "W-1"]
    before, after = at - timedelta(seconds=1), at
    assert check(enrollments, subject="S-1", gateway_id="GW-1", first=before, last=before) is None
    assert check(enrollments, subject="S-2", gateway_id="GW-2", first=after, last=after) is None
    assert check(enrollments, subject="S-1", gateway_id="GW-1", first=after, last=after) is not None
    [entry] = await _trail(api, "device", "W-1")
    assert (entry["action"], entry["details"]["from_subject"], entry["details"]["to_subject"]) == (
        "move", "S-1", "S-2")
    again = await api.client.post(f"{BASE}/devices/W-1/move",
                                  json={"subject": "S-1", "gateway_id": "GW-1",
                                        "at": (at - timedelta(minutes=1)).isoformat(),
                                        "reason": "back-dated"}, headers=admin)
    assert again.status_code == 409  # S-2's enrollment from ``at`` would overlap
    unchanged = (await api.client.get(f"{BASE}/enrollments?device=W-1",
                                      headers=api.headers("monitor"))).json()
    assert unchanged == listed  # the refused move ended nothing either
    ended = await api.client.post(f"{BASE}/devices/W-1/end-enrollment",
                                  json={"reason": "study visit: device returned"}, headers=admin)
    assert ended.status_code == 200 and ended.json()["subject"] == "S-2"
    none_left = await api.client.post(f"{BASE}/devices/W-1/end-enrollment",
                                      json={"reason": "again"}, headers=admin)
    assert none_left.status_code == 404


async def test_sites_and_travelling_participants_have_time_zones(api: Api) -> None:
    admin, monitor = api.headers("admin"), api.headers("monitor")
    site = await api.client.patch(f"{BASE}/sites/SITE-1",
                                  json={"time_zone": "Europe/Paris", "reason": "site in Lyon"},
                                  headers=admin)
    assert site.status_code == 200 and site.json()["new"] == {"time_zone": "Europe/Paris"}
    since = "2026-12-01T08:00:00Z"
    moved = await api.client.post(f"{BASE}/subjects/S-1/time-zone",
                                  json={"zone": "Asia/Tokyo", "since": since,
                                        "reason": "posted to Tokyo"}, headers=admin)
    assert moved.status_code == 200, moved.text
    periods = (await api.client.get(f"{BASE}/subjects/S-1/time-zones", headers=monitor)).json()
    assert [(p["zone"], p["start"], p["end"]) for p in periods] == [
        ("Europe/Paris", None, "2026-12-01T08:00:00Z"), ("Asia/Tokyo", "2026-12-01T08:00:00Z", None)]
    [entry] = [e for e in await _trail(api, "subject", "S-1") if e["action"] == "time_zone"]
    assert (entry["details"]["old"], entry["details"]["new"]) == ("Europe/Paris", "Asia/Tokyo")
    for bad in ({"zone": "Mars/Olympus", "reason": "r"}, {"zone": "Asia/Tokyo"}):
        refused = await api.client.post(f"{BASE}/subjects/S-1/time-zone", json=bad,
                                        headers=admin)
        assert refused.status_code == 422
    bad_site = await api.client.patch(f"{BASE}/sites/SITE-1",
                                      json={"time_zone": "Nowhere/Land", "reason": "r"},
                                      headers=admin)
    assert bad_site.status_code == 422 and "unknown time zone" in bad_site.text
    other = await api.client.post("/v1/studies/ST-1/subjects/X-1/time-zone",
                                  json={"zone": "UTC", "reason": "r"}, headers=admin)
    assert other.status_code == 404
