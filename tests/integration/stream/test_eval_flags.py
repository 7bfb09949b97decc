"""``trialwire eval flags`` end to end on a short scenario: a virtual smartwatch whose
subject desaturates, through bleak-over-bumble, the gateway, the broker and a stream
worker process, into a flag that matches the scenario's ground truth."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy.eval.flags import evaluate

pytestmark = pytest.mark.integration


async def test_desaturation_is_flagged_and_scored(tmp_path: Path) -> None:
    messages: list[str] = []
    result = await evaluate(tmp_path, ["desaturation"], 1, report=messages.append)
    scored = result["scenarios"]["desaturation"]
    assert (scored["events"], scored["detected"], scored["true_flags"]) == (1, 1, scored["flags"])
    assert scored["sensitivity"] == 1.0 and scored["ppv"] == 1.0
    assert scored["median_raise_delay_s"] <= 120
    assert any("15 simulated minutes" in m for m in messages)


async def test_unknown_scenarios_are_refused_before_anything_starts(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown scenario\(s\) \['nope'\]"):
        await evaluate(tmp_path, ["nope"], 1)
