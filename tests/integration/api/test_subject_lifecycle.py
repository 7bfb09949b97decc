"""A subject's participation over the API against a real PostgreSQL: a study admin moves
them through the lifecycle (audited, with the reason), forbidden changes are a 409 that
says why, and a withdrawal under the study's 'delete' policy deletes what was collected,
with the counts in the audit entry."""

from __future__ import annotations

import psycopg
import pytest

from storage import audit
from tests.integration.api.conftest import Api
from tests.integration.api.monitoring_data import write_recent_data

pytestmark = pytest.mark.integration

URL = "/v1/studies/ST-1/subjects/{}/status"


async def test_an_admin_pauses_resumes_and_completes_a_subject(api: Api) -> None:
    admin = api.headers("admin")
    steps = [("paused", "hospital stay"), ("active", "home again"), ("completed", "end of study")]
    for to, why in steps:
        answer = await api.client.post(URL.format("S-2"), json={"status": to, "reason": why},
                                       headers=admin)
        assert answer.status_code == 200 and answer.json()["status"] == to, answer.text
    again = await api.client.post(URL.format("S-2"), json={"status": "active", "reason": "x"},
                                  headers=admin)
    assert again.status_code == 409 and "cannot become active" in again.json()["detail"]
    subjects = (await api.client.get("/v1/studies/ST-1/subjects", headers=admin)).json()
    assert {s["code"]: s["status"] for s in subjects}["S-2"] == "completed"
    async with await psycopg.AsyncConnection.connect(api.dsn) as conn:
        trail = await audit.entries(conn, entity_type="subject", entity_id="S-2")
    assert [(e["details"]["from"], e["details"]["to"], e["reason"]) for e in reversed(trail)] == [
        ("active", "paused", "hospital stay"), ("paused", "active", "home again"),
        ("active", "completed", "end of study")]


@pytest.mark.parametrize(("who", "url", "body", "code"), [
    ("monitor", "S-1", {"status": "paused", "reason": "x"}, 403),
    ("other:admin", "S-1", {"status": "paused", "reason": "x"}, 403),
    ("admin", "NOPE-1", {"status": "paused", "reason": "x"}, 404),
    ("admin", "S-1", {"status": "gone", "reason": "x"}, 422),
    ("admin", "S-1", {"status": "paused", "reason": ""}, 422),
    ("admin", "X-1", {"status": "paused", "reason": "another study's subject"}, 404),
])
async def test_bad_changes_are_refused_with_the_reason(api: Api, who: str, url: str,
                                                       body: dict[str, str], code: int) -> None:
    answer = await api.client.post(URL.format(url), json=body, headers=api.headers(who))
    assert answer.status_code == code, answer.text


async def test_a_withdrawal_under_the_delete_policy_deletes_the_collected_data(
        api: Api) -> None:
    await write_recent_data(api.dsn)
    async with await psycopg.AsyncConnection.connect(api.dsn) as conn:
        await conn.execute("UPDATE studies SET withdrawal_policy = 'delete' WHERE code = 'ST-1'")
        await conn.commit()
    answer = await api.client.post(URL.format("S-1"),
                                   json={"status": "withdrawn", "reason": "consent withdrawn"},
                                   headers=api.headers("admin"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["withdrawal_policy"] == "delete" and body["gateways_told"] == ["GW-1"]
    assert body["deleted"]["readings"] > 1000 and body["deleted"]["waveform_segments"] == 60
    async with await psycopg.AsyncConnection.connect(api.dsn) as conn:
        left = await (await conn.execute(
            "SELECT (SELECT count(*) FROM readings WHERE subject_code = 'S-1'),"
            " (SELECT count(*) FROM waveform_segments WHERE subject_code = 'S-1')")).fetchone()
        [entry] = await audit.entries(conn, entity_type="subject", entity_id="S-1")
    assert left == (0, 0)
    async with await psycopg.AsyncConnection.connect(api.dsn) as conn:
        open_enrollments = await (await conn.execute(
            "SELECT count(*) FROM enrollments WHERE subject_code = 'S-1' AND upper_inf(valid)"
        )).fetchone()
    assert open_enrollments == (0,)  # final: a site hub's later data is refused too
    assert entry["details"]["deleted"] == body["deleted"]
    assert entry["reason"] == "consent withdrawn"
