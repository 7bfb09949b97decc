"""Scoring flags against ground truth."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from devices.sim.scenario import EventKind
from stream.flags.scoring import RaisedFlag, Truth, score

T = datetime(2026, 11, 25, 8, tzinfo=UTC)


def minutes(m: float) -> datetime:
    return T + timedelta(minutes=m)


def test_sensitivity_ppv_and_delays() -> None:
    truths = [Truth("S-1", EventKind.TACHYCARDIA, minutes(5), minutes(25)),
              Truth("S-2", EventKind.TACHYCARDIA, minutes(5), minutes(25))]
    flags = [
        RaisedFlag("S-1", "hr_tachycardia", minutes(6), minutes(24), minutes(7)),  # true
        RaisedFlag("S-1", "hr_tachycardia", minutes(8), minutes(9), minutes(9)),  # true, later
        RaisedFlag("S-1", "hr_tachycardia", minutes(60), minutes(61), minutes(61)),  # false
        RaisedFlag("S-1", "spo2_desaturation", minutes(6), minutes(7)),  # another rule: ignored
    ]
    result = score(truths, flags, {EventKind.TACHYCARDIA})
    assert (result.events, result.detected, result.flags, result.true_flags) == (2, 1, 3, 2)
    assert result.sensitivity == 0.5
    assert result.ppv == 2 / 3
    assert result.median_onset_delay_s == 60.0
    assert result.median_raise_delay_s == 120.0


def test_flags_of_another_subject_do_not_count_and_no_flags_means_no_ppv() -> None:
    truths = [Truth("S-1", EventKind.HYPOGLYCEMIA, minutes(10), minutes(50))]
    result = score(truths, [RaisedFlag("S-9", "glucose_hypo_l2", minutes(12), minutes(30))],
                   {EventKind.HYPOGLYCEMIA})
    assert (result.sensitivity, result.ppv) == (0.0, 0.0)
    empty = score(truths, [], {EventKind.HYPOGLYCEMIA})
    assert (empty.ppv, empty.median_onset_delay_s) == (None, None)
