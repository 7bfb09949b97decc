"""Readings that cannot be stored are rejected with a message that says why."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from devices.model import Observation, WaveformSegment
from storage.errors import InvalidReadingError
from storage.readings import (
    add_to_rollup,
    rollup_columns,
    rollup_rows,
    validate_observation,
    validate_segment,
)

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def obs(**overrides: object) -> Observation:
    fields: dict[str, object] = dict(time=T0, subject="S-001", device_id="D-1",
                                     metric="heart_rate", value=72.0, unit="/min", seq=1,
                                     received_at=T0)
    fields.update(overrides)
    return Observation(**fields)  # type: ignore[arg-type]


def test_a_good_reading_passes() -> None:
    validate_observation(obs())


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"value": math.nan}, "heart_rate value nan is not a finite number"),
        ({"value": math.inf}, "heart_rate value inf is not a finite number"),
        ({"value": -math.inf}, "heart_rate value -inf is not a finite number"),
        ({"value": 1000.0}, "heart_rate value 1000.0 /min is outside the possible range 0..400"),
        ({"metric": "spo2", "unit": "%", "value": 101.0}, "spo2 value 101.0 % is outside"),
        ({"metric": "mood", "unit": "1"}, "unknown metric 'mood'"),
        ({"unit": "Hz"}, "heart_rate must be in '/min', got 'Hz'"),
        ({"time": datetime(2026, 11, 1, 12, 0)},
         "time datetime.datetime(2026, 11, 1, 12, 0) has no time zone"),
        ({"received_at": datetime(1999, 1, 1, tzinfo=UTC)},
         "received_at 1999-01-01T00:00:00+00:00 is before 2000"),
        ({"seq": -1}, "seq -1 is negative"),
        ({"subject": ""}, "subject and device_id are required"),
    ],
)
def test_bad_readings_are_rejected_with_the_reason(overrides: dict[str, object],
                                                   message: str) -> None:
    with pytest.raises(InvalidReadingError) as info:
        validate_observation(obs(**overrides), 7)
    assert str(info.value).startswith("reading 7: ")
    assert message in str(info.value)
    assert info.value.index == 7
    assert info.value.reason == "invalid_reading"


def segment(**overrides: object) -> WaveformSegment:
    fields: dict[str, object] = dict(time=T0, subject="S-001", device_id="ECG-1", lead="I",
                                     sampling_rate_hz=130.0, samples=[1.0, -2.0, 3.5], seq=1,
                                     received_at=T0)
    fields.update(overrides)
    return WaveformSegment(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"samples": []}, "0 samples"),
        ({"samples": [1.0, math.nan]}, "samples contain NaN or infinity"),
        ({"samples": [math.nan, 1.0]}, "samples contain NaN or infinity"),
        ({"samples": [-math.inf, 1.0]}, "samples contain NaN or infinity"),
        ({"samples": [1.0, 1e39]}, "beyond the range of real"),
        ({"sampling_rate_hz": 0.0}, "sampling rate 0.0 Hz is not positive"),
        ({"sampling_rate_hz": math.inf}, "sampling rate inf Hz is not positive"),
        ({"time": datetime(2026, 1, 1)}, "has no time zone"),
    ],
)
def test_bad_segments_are_rejected(overrides: dict[str, object], message: str) -> None:
    validate_segment(segment())
    with pytest.raises(InvalidReadingError, match=message):
        validate_segment(segment(**overrides), 3)


def test_minute_rollup_matches_a_direct_computation() -> None:
    values = [70.0, 75.0, 65.0, 80.0, 90.0]
    rows = []
    for i, v in enumerate(values):
        o = obs(time=T0 + timedelta(seconds=20 * i), value=v, seq=i)
        rows.append((o.time, o.subject, o.device_id, o.metric, o.value))
    cells: dict = {}
    for row in rows:
        add_to_rollup(cells, row)
    subjects, metrics, buckets, devices, mins, maxs, sums, counts = rollup_columns(cells)
    # 0 s, 20 s, 40 s fall in 12:00; 60 s and 80 s in 12:01.
    assert buckets == [T0, T0 + timedelta(minutes=1)]
    assert (mins, maxs, sums, counts) == ([65.0, 80.0], [75.0, 90.0], [210.0, 170.0], [3, 2])
    assert subjects == ["S-001", "S-001"] and metrics == ["heart_rate"] * 2
    assert devices == ["D-1", "D-1"]


def test_batch_rollup_equals_the_row_by_row_fold_in_any_order() -> None:
    rng = random.Random(4)
    rows = [(T0 + timedelta(seconds=rng.randrange(0, 600)), f"S-{rng.randrange(3)}",
             f"D-{rng.randrange(2)}", rng.choice(["heart_rate", "spo2"]),
             rng.choice([rng.uniform(50, 120), rng.randrange(50, 120)]))
            for _ in range(2_000)]
    rows.sort(key=lambda r: (r[1], r[2], r[3], r[0]))  # the usual order: series, then time
    expected: dict = {}
    for row in rows:
        add_to_rollup(expected, row)
    assert rollup_rows(rows) == expected
    rng.shuffle(rows)  # the conflict path hands rows over in no particular order
    expected = {}
    for row in rows:
        add_to_rollup(expected, row)
    assert rollup_rows(rows) == expected
