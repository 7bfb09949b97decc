"""R-peak detection on the simulator's ECG: the beats it finds are the beats it made."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from devices.sim.physiology import Physiology
from devices.sim.scenario import scenario
from stream.flags.ecg_rpeaks import heart_rate, r_peaks

FS = 130.0


@pytest.mark.parametrize(("name", "t0"), [("baseline", 60.0), ("tachycardia", 600.0),
                                           ("bradycardia", 600.0)])
def test_detected_peaks_match_the_simulated_beats(name: str, t0: float) -> None:
    body = Physiology(7, scenario(name), datetime(2026, 11, 25, 8, tzinfo=UTC))
    times = t0 + np.arange(0, 10 * FS) / FS
    ecg = body.ecg_uv(times)
    found = times[r_peaks(ecg, FS)]
    beats = body.beats_between(times[0] + 0.2, times[-1] - 0.2)
    # every simulated beat found within 40 ms, and nothing else
    assert len(beats) > 0
    matched = [np.min(np.abs(found - b)) < 0.04 for b in beats]
    assert all(matched)
    assert len(found) <= len(beats) + 2  # at most the edge beats extra
    expected = 60.0 / float(np.median(np.diff(beats)))
    assert heart_rate(ecg, FS) == pytest.approx(expected, rel=0.05)


def test_flat_or_short_signals_have_no_rate() -> None:
    assert heart_rate(np.zeros(2000), FS) is None
    assert len(r_peaks(np.ones(100), FS)) == 0


def test_streamed_segments_yield_a_rate_every_ten_seconds_and_raise_tachycardia() -> None:
    from datetime import timedelta

    from devices.model import WaveformSegment
    from stream.flags.config import load_rules
    from stream.flags.ecg_heart_rate import EcgHeartRate
    from stream.flags.engine import FlagEngine

    start = datetime(2026, 11, 25, 8, tzinfo=UTC)
    body = Physiology(3, scenario("tachycardia"), start)
    derive = EcgHeartRate()
    rates = []
    t = 400.0  # inside the ~135/min episode (5-25 min)
    for n in range(int(90 * FS / 73)):  # 90 s in 73-sample frames
        times = t + (n * 73 + np.arange(73)) / FS
        rates += derive.add([WaveformSegment(
            time=start + timedelta(seconds=float(times[0])), subject="S-1", device_id="E-1",
            lead="I", sampling_rate_hz=FS, samples=body.ecg_uv(times).tolist(), seq=n,
            received_at=start)])
    assert len(rates) == 8
    assert all(125 < r.value < 145 for r in rates)
    flags, _ = FlagEngine(lambda study: load_rules()).fold(
        {}, study="ST", subject="S-1", observations=rates)
    assert [(f.rule_id, f.metric) for f in flags] == [("hr_tachycardia", "ecg_heart_rate")]
