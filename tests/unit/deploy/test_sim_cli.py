"""``trialwire sim``: listing and argument errors (running homes is an integration test)."""

from __future__ import annotations

from typer.testing import CliRunner

from deploy.cli import app

runner = CliRunner()


def test_list_shows_device_types_and_scenarios() -> None:
    result = runner.invoke(app, ["sim", "--list"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for name in ("ecg_patch", "cgm", "glucose_meter", "smartwatch", "bp_cuff", "hypo",
                 "tachycardia", "desaturation", "link_loss", "cgm_warmup"):
        assert name in result.output


def test_unknown_scenario_and_device_are_clear_errors() -> None:
    result = runner.invoke(app, ["sim", "run", "--scenario", "zombie"])
    assert result.exit_code == 1
    assert "unknown scenario 'zombie'" in result.output
    result = runner.invoke(app, ["sim", "run", "--devices", "toaster"])
    assert result.exit_code == 1
    assert "'toaster' is not a valid DeviceType" in result.output
