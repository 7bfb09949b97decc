"""``trialwire study`` against a real PostgreSQL: a rule changed from the command line is
the rule's next version (JSON printed, audited); a bad value is one clear line; the wear
minimums are set with their old values returned."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from deploy.cli import app
from tests.integration.deploy.cli_database import seed, trail

pytestmark = pytest.mark.integration

runner = CliRunner()


def test_rules_and_wear_minimums_from_the_command_line(
        migrated_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    seed(migrated_dsn, subjects=1)
    monkeypatch.setenv("TRIALWIRE_DATABASE_URL", migrated_dsn)
    changed = runner.invoke(app, ["study", "rule", "--study", "ST-1", "--rule", "fever",
                                  "--set", "threshold=38.5", "--set", "severity=\"high\"",
                                  "--reason", "site 2 protocol", "--operator", "jdoe"])
    assert changed.exit_code == 0, changed.output
    after = json.loads(changed.output)
    assert (after["version"], after["threshold"], after["severity"]) == (2, 38.5, "high")
    listed = [json.loads(line) for line in runner.invoke(
        app, ["study", "rules", "--study", "ST-1"]).output.splitlines()]
    assert {r["rule_id"]: r["changed_for_study"] for r in listed}["fever"] is True
    bad = runner.invoke(app, ["study", "rule", "--study", "ST-1", "--rule", "fever",
                              "--set", "threshold=hot", "--reason", "x"])
    assert bad.exit_code == 1 and "threshold must be a finite number" in bad.output
    [entry] = trail(migrated_dsn, entity_type="study_rule", entity_id="ST-1/fever")
    assert (entry["actor"], entry["reason"]) == ("cli:jdoe", "site 2 protocol")

    wear = runner.invoke(app, ["study", "wear-minimums", "--study", "ST-1",
                               "--wear-minutes", "1200", "--reason", "protocol v2"])
    assert wear.exit_code == 0, wear.output
    assert json.loads(wear.output)["new"] == {"min_daily_wear_minutes": 1200,
                                              "min_daily_completeness": None}
