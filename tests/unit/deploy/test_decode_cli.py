"""``trialwire decode``: single values, context, batch captures, exit codes."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from deploy.cli import app

runner = CliRunner()


def test_decode_prints_fields_and_normalized_readings() -> None:
    result = runner.invoke(app, ["decode", "0x2A37", "1648000433"])
    assert result.exit_code == 2  # 3 RR bytes: invalid
    out = json.loads(result.stdout)
    assert out == {"valid": False, "reason": "inconsistent",
                   "error": "Heart Rate Measurement: RR-interval list has an odd number of bytes (3)"}

    result = runner.invoke(app, ["decode", "2a37", "16 48 00 04 33 03"])
    assert result.exit_code == 0
    out = json.loads(result.stdout)
    assert out["valid"] is True
    assert out["characteristic"] == "0x2A37"
    assert out["fields"]["heart_rate"] == 72
    assert [(r["metric"], r["value"], r["unit"]) for r in out["readings"]] == [
        ("heart_rate", 72.0, "/min"), ("rr_interval", 1000.0, "ms"),
        ("rr_interval", 799.8046875, "ms")]


def test_decode_context_makes_missing_cgm_crc_invalid() -> None:
    plain = runner.invoke(app, ["decode", "0x2AA7", "06000C100600"])
    assert plain.exit_code == 0
    assert json.loads(plain.stdout)["readings"][0]["specimen"] == "interstitial_fluid"
    strict = runner.invoke(app, ["decode", "0x2AA7", "06000C100600",
                                 "--context", '{"e2e_crc_supported": true}'])
    assert strict.exit_code == 2
    assert "E2E-CRC is supported but missing" in json.loads(strict.stdout)["error"]
    bad = runner.invoke(app, ["decode", "0x2AA7", "06000C100600", "--context", '{"crc": 1}'])
    assert bad.exit_code == 2
    assert "bad context" in json.loads(bad.stdout)["error"]


def test_decode_128_bit_uuid_and_bad_hex() -> None:
    ok = runner.invoke(app, ["decode", "FB005C82-02E7-F387-1CAD-8ACD2D8DF0C8",
                             "000094357700000000000280FF028000"])
    assert ok.exit_code == 0
    assert json.loads(ok.stdout)["segments"][0]["samples"] == [-32766.0, 32770.0]
    bad = runner.invoke(app, ["decode", "0x2A19", "zz"])
    assert bad.exit_code == 2
    assert json.loads(bad.stdout)["reason"] == "bad_hex"


def test_batch_decodes_one_result_per_line() -> None:
    lines = [
        {"characteristic": "0x2A19", "hex": "55"},
        {"characteristic": "0x2A52", "hex": "010302E5070B190C0000", "context": {"service": "cgm"}},
        {"characteristic": "0x2A52", "hex": "010302E5070B190C0000", "context": {"service": "glucose"}},
        {"hex": "00"},
    ]
    stdin = "\n".join(json.dumps(x) for x in lines) + "\nnot json\n\n"
    result = runner.invoke(app, ["decode", "--batch"], input=stdin)
    assert result.exit_code == 0
    out = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [o["valid"] for o in out] == [True, False, True, False, False]
    assert out[0]["readings"] == [{"metric": "battery_level", "value": 85.0, "unit": "%"}]
    assert "not defined for the cgm service" in out[1]["error"]
    assert out[3]["reason"] == "bad_line"
    assert out[4]["error"].startswith("line 5: not JSON")
