"""The anomaly rules as pure functions: same readings in, same episodes out."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from devices.model import Observation, Quality
from stream.flags.config import RuleConfigError, load_rules
from stream.flags.engine import FlagEngine
from stream.flags.rules.derived import BaselineDeviation, Flatline, RateOfChange
from stream.flags.rules.rr_irregularity import RrIrregularity, irregularity
from stream.flags.rules.sustained import SustainedThreshold

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC).timestamp()


def series(values: list[float], step: float = 1.0, start: float = T0) -> list[tuple[float, float, bool]]:
    return [(start + i * step, v, False) for i, v in enumerate(values)]


def test_sustained_threshold_raises_after_the_duration_and_closes_when_it_ends() -> None:
    rule = SustainedThreshold("tachy", ">", 120, min_duration_s=60, max_gap_s=30)
    state: dict = {}
    samples = series([80] * 10 + [130] * 90 + [80] * 5)
    episodes = rule.fold(state, samples[:50])
    assert episodes == []  # 40 s beyond the threshold so far
    raised = rule.fold(state, samples[50:])
    assert [(e.closed, e.onset - T0, e.raised_at - T0, e.end - T0) for e in raised] == [
        (False, 10, 70, 70), (True, 10, 70, 99)]
    assert raised[1].details["extreme"] == 130


def test_a_gap_longer_than_allowed_breaks_the_run() -> None:
    rule = SustainedThreshold("desat", "<", 90, min_duration_s=60, max_gap_s=30)
    samples = series([85] * 40) + series([85] * 40, start=T0 + 100)  # 60 s without data
    assert rule.fold({}, samples) == []


def test_folding_in_pieces_equals_folding_at_once() -> None:
    rng = random.Random(7)
    values = [rng.choice([50.0, 60.0, 130.0]) for _ in range(2000)]
    rule = SustainedThreshold("tachy", ">", 120, min_duration_s=3, max_gap_s=30)
    whole = rule.fold({}, series(values))
    state: dict = {}
    pieces = []
    for i in range(0, 2000, 37):
        pieces += rule.fold(state, series(values)[i:i + 37])
    assert [(e.onset, e.end, e.closed) for e in pieces] == [(e.onset, e.end, e.closed) for e in whole]


def test_single_reading_rules_raise_at_once() -> None:
    fever = SustainedThreshold("fever", ">=", 38.0, min_duration_s=0, max_gap_s=3600)
    [episode] = fever.fold({}, series([37.2, 38.4], step=600))
    assert episode.onset == T0 + 600 and not episode.closed


def test_rate_of_change_per_minute() -> None:
    rule = RateOfChange("roc", per_min=3)
    # CGM every 5 min: 120 → 100 is 4 mg/dL/min, 100 → 95 is 1.
    raised, closed = rule.fold({}, series([120, 100, 95, 94], step=300))
    assert (raised.onset, raised.closed, closed.closed) == (T0 + 300, False, True)
    assert closed.details["extreme"] == pytest.approx(4.0)


def test_flatline_needs_the_same_value_for_the_whole_duration() -> None:
    rule = Flatline("flat", min_duration_s=600)
    assert rule.fold({}, series([72.0] * 500)) == []
    [episode] = rule.fold({}, series([72.0] * 700))
    assert (episode.onset, episode.raised_at) == (T0, T0 + 600)


def test_baseline_deviation_after_warmup() -> None:
    rule = BaselineDeviation("base", sd=4, min_duration_s=60, warmup=300)
    rng = random.Random(1)
    normal = [70 + rng.gauss(0, 2) for _ in range(1000)]
    state: dict = {}
    assert rule.fold(state, series(normal)) == []
    assert state["baseline"]["mean"] == pytest.approx(70, abs=1)
    episodes = rule.fold(state, series([110.0] * 120, start=T0 + 1000))
    assert episodes and episodes[0].onset == T0 + 1000


def test_rr_irregularity_statistics_separate_sinus_rhythm_from_af() -> None:
    rng = random.Random(3)
    sinus = [850 + rng.gauss(0, 25) for _ in range(150)]
    af = [rng.uniform(450, 1100) for _ in range(150)]
    assert irregularity(sinus)[0] < 0.1
    nrmssd, entropy = irregularity(af)
    assert nrmssd > 0.1 and entropy > 0.7

    def beats(rr: list[float], start: float) -> list[tuple[float, float, bool]]:
        out, t = [], start
        for v in rr:
            t += v / 1000
            out.append((t, v, False))
        return out

    rule = RrIrregularity("af")
    state: dict = {}
    assert rule.fold(state, beats(sinus * 3, T0)) == []
    af_start = T0 + sum(sinus * 3) / 1000
    episodes = rule.fold(state, beats([rng.uniform(450, 1100) for _ in range(600)], af_start))
    assert episodes and abs(episodes[0].onset - af_start) < 130


def test_study_overrides_change_thresholds_and_disable_rules() -> None:
    rules = load_rules({"hr_tachycardia": {"threshold": 110, "version": 2},
                        "fever": {"enabled": False}})
    assert rules["hr_tachycardia"].detector.threshold == 110
    assert rules["hr_tachycardia"].version == 2
    assert "fever" not in rules


@pytest.mark.parametrize(("override", "message"), [
    ({"x": {"kind": "magic"}}, "rule x: unknown kind 'magic'"),
    ({"hr_tachycardia": {"severity": "dire"}}, "unknown severity 'dire'"),
    ({"hr_tachycardia": {"treshold": 3}}, "unexpected keyword argument 'treshold'"),
    ({"x": {"kind": "threshold"}}, "needs metrics"),
])
def test_bad_rule_definitions_are_refused_with_the_rule_named(override: dict, message: str) -> None:
    with pytest.raises(RuleConfigError, match=message):
        load_rules(override)


def obs(seconds: float, value: float, *, quality: int = 0) -> Observation:
    time = datetime.fromtimestamp(T0, UTC) + timedelta(seconds=seconds)
    return Observation(time=time, subject="S-1", device_id="W-1", metric="heart_rate",
                       value=value, unit="/min", seq=int(seconds), received_at=time,
                       quality=quality)


def test_engine_folds_in_event_time_and_reports_late_readings() -> None:
    engine = FlagEngine(lambda study: load_rules())
    state: dict = {}
    flags, late = engine.fold(state, study="ST", subject="S-1",
                              observations=[obs(s, 130) for s in range(0, 90)])
    assert [f.rule_id for f in flags] == ["hr_tachycardia"]
    assert flags[0].raised_on == "live" and flags[0].window_start.timestamp() == T0
    # A reading from before the key's event-time watermark is late: not folded, reported.
    flags, late = engine.fold(state, study="ST", subject="S-1", observations=[obs(10, 70)])
    assert flags == [] and [(r.metric, r.start.timestamp()) for r in late] == [("heart_rate", T0 + 10)]


def test_backfilled_readings_raise_backfill_flags() -> None:
    engine = FlagEngine(lambda study: load_rules())
    flags, _ = engine.fold({}, study="ST", subject="S-1", observations=[
        obs(s, 130, quality=Quality.BACKFILLED) for s in range(0, 90)])
    assert flags[0].raised_on == "backfill"


def test_flatline_in_pieces_equals_at_once_and_a_pause_ends_a_run() -> None:
    rng = random.Random(11)
    values: list[float] = []
    while len(values) < 5000:  # runs of 1..900 equal values
        values += [float(rng.randint(60, 65))] * rng.choice([1, 2, 3, 50, 700, 900])
    rule = Flatline("flat", min_duration_s=600)
    whole = rule.fold({}, series(values))
    state: dict = {}
    pieces = []
    for i in range(0, len(values), 97):
        pieces += rule.fold(state, series(values)[i:i + 97])
    # An open episode reports the run as far as the batch went; closed ones are final.
    def key(episodes: list) -> list:
        return [(e.onset, e.raised_at, e.closed, e.end if e.closed else None) for e in episodes]
    assert key(whole) and key(pieces) == key(whole)
    paused = series([70.0] * 400) + series([70.0] * 400, start=T0 + 600)  # 200 s without data
    assert Flatline("flat", min_duration_s=600).fold({}, paused) == []
