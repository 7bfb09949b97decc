"""``trialwire gateway``: config errors and spool inspection."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from deploy.cli import app
from gateway.config import dump_config
from gateway.runner import spool_path
from gateway.spool import PendingItem, Spool
from stream.contract.envelope import WireReading
from stream.contract.gateway_config import DeviceEntry, GatewayConfig

runner = CliRunner()


def test_bad_config_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text("gateway_id: GW-1\nstudy: S\nsubject: S-1\ndevices:\n"
                    "  - {id: D1, type: toaster, address: 'C0:00:00:00:00:01'}\n")
    result = runner.invoke(app, ["gateway", "run", "--config", str(path)])
    assert result.exit_code == 1
    assert "Invalid enum value 'toaster'" in result.output
    missing = runner.invoke(app, ["gateway", "spool", "--config", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 1
    assert "cannot read gateway config" in missing.output


def test_spool_inspection(tmp_path: Path) -> None:
    config = GatewayConfig(gateway_id="GW-1", study="S", subject="S-1", devices=[
        DeviceEntry(id="D1", type="smartwatch", address="C3:00:00:00:00:01")])
    path = tmp_path / "gw.yaml"
    path.write_text(dump_config(config))
    t = datetime(2026, 11, 25, tzinfo=UTC)
    spool = Spool(spool_path(config, tmp_path), budget_bytes=2**20, new_base=0)
    spool.write([PendingItem("D1", WireReading(seq=0, metric="heart_rate", value=71.0,
                                               unit="/min", time=t, received_at=t))])
    spool.close()
    result = runner.invoke(app, ["gateway", "spool", "--config", str(path),
                                 "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[:result.stdout.rindex("}") + 1])
    assert summary["items"] == 1
    assert summary["devices"]["D1"] == {"persisted_through": -1, "racp_cursor": None}
    assert "D1 #0 reading heart_rate=71.0 batch=-" in result.stdout
