"""Rules that judge a series derived from the readings with a sustained threshold:
rate of change, flatline, deviation from the subject's own baseline.

Each keeps what the derivation needs (the previous reading, the baseline's running
statistics) in its state next to the sustained-run state, so it resumes after a restart.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from stream.flags.rules.episode import Episode, Sample
from stream.flags.rules.sustained import SustainedThreshold


def _previous(state: dict[str, Any], samples: Iterable[Sample],
              max_gap_s: float) -> Iterator[tuple[Sample, tuple[float, float] | None]]:
    """Pairs each sample with the previous one (None after a gap longer than max_gap_s)."""
    for sample in samples:
        prev = state.get("prev")
        state["prev"] = [sample[0], sample[1]]
        if prev is None or sample[0] - prev[0] > max_gap_s or sample[0] <= prev[0]:
            yield sample, None
        else:
            yield sample, (prev[0], prev[1])


@dataclass(frozen=True)
class RateOfChange:
    """|Δvalue| per minute between consecutive readings above ``per_min`` (e.g. glucose
    faster than 3 mg/dL/min, the CGM "rapid" trend arrow)."""

    rule_id: str
    per_min: float
    max_gap_s: float = 900.0

    def fold(self, state: dict[str, Any], samples: Iterable[Sample]) -> list[Episode]:
        rates = [(t, abs(v - pv) / ((t - pt) / 60.0), b)
                 for (t, v, b), prev in _previous(state, samples, self.max_gap_s)
                 if prev is not None for pt, pv in (prev,)]
        return SustainedThreshold(self.rule_id, ">", self.per_min, 0.0, self.max_gap_s).fold(
            state.setdefault("run_state", {}), rates)


@dataclass(frozen=True)
class Flatline:
    """The same value repeated for ``min_duration_s``: a stuck sensor, not a person."""

    rule_id: str
    min_duration_s: float
    max_gap_s: float = 120.0

    def fold(self, state: dict[str, Any], samples: Iterable[Sample]) -> list[Episode]:
        same = [(t, 1.0 if prev is not None and prev[1] == v else 0.0, b)
                for (t, v, b), prev in _previous(state, samples, self.max_gap_s)]
        return SustainedThreshold(self.rule_id, ">=", 1.0, self.min_duration_s,
                                  self.max_gap_s).fold(state.setdefault("run_state", {}), same)


@dataclass(frozen=True)
class BaselineDeviation:
    """Sustained deviation of more than ``sd`` standard deviations from the subject's own
    baseline: an exponentially weighted mean and variance with a half-life in event time
    (West 1979 / Finch 2009 incremental form), judged only after ``warmup`` readings."""

    rule_id: str
    sd: float
    min_duration_s: float
    half_life_s: float = 24 * 3600.0
    warmup: int = 600
    max_gap_s: float = 300.0

    def fold(self, state: dict[str, Any], samples: Iterable[Sample]) -> list[Episode]:
        base = state.setdefault("baseline", {"n": 0, "mean": 0.0, "var": 0.0, "t": None})
        scores = []
        for t, value, backfilled in samples:
            score = 0.0
            if base["n"] >= self.warmup and base["var"] > 0:
                score = abs(value - base["mean"]) / math.sqrt(base["var"])
                scores.append((t, score, backfilled))
            if score <= self.sd:  # the baseline does not learn from the deviation itself
                _update(base, t, value, self.half_life_s)
        return SustainedThreshold(self.rule_id, ">", self.sd, self.min_duration_s,
                                  self.max_gap_s).fold(state.setdefault("run_state", {}), scores)


def _update(base: dict[str, Any], t: float, value: float, half_life_s: float) -> None:
    if base["n"] == 0:
        base.update(n=1, mean=value, var=0.0, t=t)
        return
    dt = max(0.0, t - base["t"]) if base["t"] is not None else 0.0
    # Weight of the new reading: at least 1/n while warming up, else by elapsed event time.
    alpha = max(1.0 / (base["n"] + 1), 1.0 - 0.5 ** (dt / half_life_s))
    diff = value - base["mean"]
    incr = alpha * diff
    base["mean"] += incr
    base["var"] = (1 - alpha) * (base["var"] + diff * incr)
    base["n"] += 1
    base["t"] = max(t, base["t"] or t)
