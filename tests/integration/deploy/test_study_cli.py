"""``trialwire study`` against a real PostgreSQL: a rule changed from the command line is
the rule's next version (JSON printed, audited); a bad value is one clear line; the wear
minimums are set with their old values returned."""

from __future__ import annotations

import asyncio
import json

import psycopg
import pytest
from typer.testing import CliRunner

from deploy.bench.seed import seed_study
from deploy.cli import app
from storage import audit

pytestmark = pytest.mark.integration

runner = CliRunner()


async def _seed(dsn: str) -> None:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        await seed_study(conn, subjects=1)


async def _trail(dsn: str) -> list[dict[str, object]]:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        return await audit.entries(conn, entity_type="study_rule", entity_id="ST-1/fever")


def test_rules_and_wear_minimums_from_the_command_line(
        migrated_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    asyncio.run(_seed(migrated_dsn))  # (the commands run their own event loops)
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
    [entry] = asyncio.run(_trail(migrated_dsn))
    assert (entry["actor"], entry["reason"]) == ("cli:jdoe", "site 2 protocol")

    wear = runner.invoke(app, ["study", "wear-minimums", "--study", "ST-1",
                               "--wear-minutes", "1200", "--reason", "protocol v2"])
    assert wear.exit_code == 0, wear.output
    assert json.loads(wear.output)["new"] == {"min_daily_wear_minutes": 1200,
                                              "min_daily_completeness": None}
