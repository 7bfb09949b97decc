"""``trialwire registry`` against a real PostgreSQL: a field changed, a device moved and
a participant's time zone set from the command line, each printed as JSON and audited;
bad input is one clear line, and a refused move changes nothing."""

from __future__ import annotations

import asyncio
import json

import psycopg
import pytest
from typer.testing import CliRunner

from deploy.cli import app
from storage import audit, registry_changes
from tests.integration.deploy.cli_database import seed

pytestmark = pytest.mark.integration

runner = CliRunner()


async def _state(dsn: str) -> tuple[list[str], list[tuple[str, str]]]:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        moves = await registry_changes.enrollments(conn, study="ST-1", device_id="W-1")
        trail = await audit.entries(conn)
    return [m.subject for m in moves], [(str(e["action"]), str(e["actor"])) for e in trail]


def test_registry_changes_from_the_command_line(migrated_dsn: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    seed(migrated_dsn, subjects=2)
    monkeypatch.setenv("TRIALWIRE_DATABASE_URL", migrated_dsn)
    base = ["registry"]
    updated = runner.invoke(app, [*base, "update", "--study", "ST-1", "--entity", "subject",
                                  "--key", "S-1", "--set", "arm=placebo", "--reason", "rand."])
    assert updated.exit_code == 0, updated.output
    assert json.loads(updated.output)["new"] == {"arm": "placebo"}
    moved = runner.invoke(app, [*base, "move-device", "--study", "ST-1", "--device", "W-1",
                                "--subject", "S-2", "--gateway", "GW-2",
                                "--at", "2026-12-01T09:00:00+00:00", "--reason", "swap"])
    assert moved.exit_code == 0, moved.output
    assert json.loads(moved.output)["from_subject"] == "S-1"
    back = runner.invoke(app, [*base, "move-device", "--study", "ST-1", "--device", "W-1",
                               "--subject", "S-1", "--gateway", "GW-1",
                               "--at", "2026-11-30T09:00:00+00:00", "--reason", "back-dated"])
    assert back.exit_code == 1 and "already enrolled after" in back.output
    zone = runner.invoke(app, [*base, "time-zone", "--study", "ST-1", "--subject", "S-2",
                               "--zone", "Asia/Tokyo", "--reason", "moved"])
    assert zone.exit_code == 0 and json.loads(zone.output)["old"] == "UTC", zone.output
    for bad, says in ((["time-zone", "--study", "ST-1", "--subject", "S-2", "--zone", "Mars/X",
                        "--reason", "r"], "unknown time zone"),
                      (["update", "--study", "ST-1", "--entity", "subject", "--key", "S-1",
                        "--set", "status=withdrawn", "--reason", "r"], "no changeable field"),
                      (["update", "--study", "ST-1", "--entity", "nope", "--key", "S-1",
                        "--set", "a=b", "--reason", "r"], "--entity must be one of")):
        refused = runner.invoke(app, [*base, *bad])
        assert refused.exit_code == 1 and says in refused.output, refused.output
    subjects, trail = asyncio.run(_state(migrated_dsn))
    assert subjects == ["S-1", "S-2"]  # the refused move left the first move as it was
    assert trail == [("time_zone", "cli:cli"), ("move", "cli:cli"), ("update", "cli:cli")]
