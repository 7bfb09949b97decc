"""``trialwire subject status`` against a real PostgreSQL: a change printed as JSON and
audited with its reason; a forbidden change and an unknown subject are one clear line."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from deploy.cli import app
from tests.integration.deploy.cli_database import seed, trail

pytestmark = pytest.mark.integration

runner = CliRunner()


def test_a_subject_is_paused_from_the_command_line(
        migrated_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    seed(migrated_dsn, subjects=1)
    monkeypatch.setenv("TRIALWIRE_DATABASE_URL", migrated_dsn)
    base = ["subject", "status", "--study", "ST-1", "--subject", "S-1"]
    done = runner.invoke(app, [*base, "--to", "paused", "--reason", "travel",
                               "--operator", "jdoe"])
    assert done.exit_code == 0, done.output
    change = json.loads(done.output)
    assert (change["previous"], change["status"], change["gateways_told"]) == (
        "active", "paused", ["GW-1"])
    refused = runner.invoke(app, [*base, "--to", "screening", "--reason", "x"])
    assert refused.exit_code == 1 and "cannot become screening" in refused.output
    unknown = runner.invoke(app, ["subject", "status", "--study", "ST-1", "--subject", "S-9",
                                  "--to", "paused", "--reason", "x"])
    assert unknown.exit_code == 1 and "no subject S-9" in unknown.output
    [entry] = trail(migrated_dsn, entity_type="subject", entity_id="S-1")
    assert (entry["actor"], entry["reason"]) == ("cli:jdoe", "travel")
