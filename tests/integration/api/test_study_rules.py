"""A study's rules and wear minimums over the API against a real PostgreSQL: a threshold
change writes the rule's next version, audited with old and new; the stream worker's rule
book reads that version (so new flags carry it, old ones keep theirs); bad definitions are
a 422 that names the field, before they can reach the worker."""

from __future__ import annotations

import psycopg
import pytest

from storage import audit, study_rules
from stream.flags.rulebook import RuleBook
from tests.integration.api.conftest import Api

pytestmark = [pytest.mark.integration, pytest.mark.one_storage_mode]  # no readings

URL = "/v1/studies/ST-1/rules"


async def test_a_threshold_change_is_the_rules_next_version_for_the_worker_too(api: Api) -> None:
    admin, monitor = api.headers("admin"), api.headers("monitor")
    rules = {r["rule_id"]: r for r in (await api.client.get(URL, headers=monitor)).json()}
    tachy = rules["hr_tachycardia"]
    assert (tachy["version"], tachy["params"]["threshold"], tachy["changed_for_study"]) == (
        1, 120, False)
    first = await api.client.put(f"{URL}/hr_tachycardia",
                                 json={"set": {"threshold": 130}, "reason": "athletes"},
                                 headers=admin)
    assert first.status_code == 200, first.text
    assert (first.json()["version"], first.json()["params"]["threshold"]) == (2, 130)
    second = await api.client.put(f"{URL}/hr_tachycardia",
                                  json={"set": {"min_duration_s": 90}, "reason": "fewer alerts"},
                                  headers=admin)
    assert second.json()["version"] == 3
    params = second.json()["params"]
    assert (params["threshold"], params["min_duration_s"]) == (130, 90)  # both changes hold
    versions = (await api.client.get(f"{URL}/hr_tachycardia/versions", headers=monitor)).json()
    assert [(v["version"], v["reason"]) for v in versions] == [(3, "fewer alerts"),
                                                               (2, "athletes")]

    book = RuleBook(max_age_s=0)  # the stream worker's view of the study's rules
    async with await psycopg.AsyncConnection.connect(api.dsn) as conn:
        await book.refresh(conn, ["ST-1"])
        [entry, _] = await audit.entries(conn, entity_type="study_rule",
                                         entity_id="ST-1/hr_tachycardia")
    rule = book.rules("ST-1")["hr_tachycardia"]
    assert (rule.version, rule.detector.threshold, rule.detector.min_duration_s) == (3, 130, 90)
    assert book.rules("ST-2")["hr_tachycardia"].version == 1  # another study: unchanged
    assert (entry["details"]["old"]["min_duration_s"], entry["details"]["new"]["min_duration_s"],
            entry["details"]["new"]["version"]) == (60, 90, 3)


@pytest.mark.parametrize(("who", "rule", "change", "code", "says"), [
    ("monitor", "fever", {"threshold": 38.5}, 403, "may not call"),
    ("admin", "no_such_rule", {"threshold": 1}, 404, "no rule"),
    ("admin", "fever", {"threshold": "hot"}, 422, "threshold must be a finite number"),
    ("admin", "fever", {"op": "~"}, 422, "op must be one of"),
    ("admin", "fever", {"version": 7}, 422, "cannot be set"),
    ("admin", "fever", {"kind": "flatline"}, 422, "cannot be set"),
    ("admin", "fever", {"thresold": 38}, 422, "unexpected keyword"),
    ("admin", "device_silent", {"silent_s": -1}, 422, "silent_s must be"),
    ("admin", "fever", {"enabled": "no"}, 422, "enabled must be true or false"),
])
async def test_bad_rule_changes_are_refused_with_the_field(api: Api, who: str, rule: str,
                                                           change: dict[str, object], code: int,
                                                           says: str) -> None:
    answer = await api.client.put(f"{URL}/{rule}", json={"set": change, "reason": "r"},
                                  headers=api.headers(who))
    assert answer.status_code == code and says in answer.text, answer.text


async def test_wear_minimums_are_set_and_cleared_with_an_audit_entry(api: Api) -> None:
    admin = api.headers("admin")
    done = await api.client.put("/v1/studies/ST-1/wear-minimums",
                                json={"min_daily_wear_minutes": 1200,
                                      "min_daily_completeness": 0.8, "reason": "protocol v2"},
                                headers=admin)
    assert done.status_code == 200, done.text
    cleared = await api.client.put("/v1/studies/ST-1/wear-minimums",
                                   json={"min_daily_wear_minutes": 1000, "reason": "amended"},
                                   headers=admin)
    assert cleared.json() == {"min_daily_wear_minutes": 1000, "min_daily_completeness": None}
    bad = await api.client.put("/v1/studies/ST-1/wear-minimums",
                               json={"min_daily_completeness": 1.5, "reason": "x"}, headers=admin)
    assert bad.status_code == 422
    async with await psycopg.AsyncConnection.connect(api.dsn) as conn:
        settings = await study_rules.settings(conn, study="ST-1")
        [latest, _] = await audit.entries(conn, entity_type="study", entity_id="ST-1")
    assert settings is not None and settings["min_daily_wear_minutes"] == 1000
    assert "min_daily_completeness" not in settings
    assert latest["details"]["old"] == {"min_daily_wear_minutes": 1200,
                                        "min_daily_completeness": 0.8}
