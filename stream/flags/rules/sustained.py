"""Sustained threshold rules: a value beyond a threshold for at least ``min_duration_s``.

Covers hypo/hyperglycaemia (ADA level 1/2: < 70 / < 54 and > 180 / > 250 mg/dL for
≥ 15 min), tachycardia/bradycardia, SpO2 desaturation, fever, low battery. A run is broken
by a reading outside the condition or by a gap longer than ``max_gap_s`` (the condition
cannot be called sustained across missing data). With ``min_duration_s`` 0 one reading is
enough.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from stream.flags.rules.episode import MAX_TRIGGER_VALUES, Episode, Sample

_value = itemgetter(1)

COMPARATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


@dataclass(frozen=True)
class SustainedThreshold:
    rule_id: str
    op: str  # one of COMPARATORS
    threshold: float
    min_duration_s: float
    max_gap_s: float

    def fold(self, state: dict[str, Any], samples: Sequence[Sample]) -> list[Episode]:
        """Fold time-ordered samples into ``state`` (mutated); return episodes raised or closed."""
        beyond = COMPARATORS[self.op]
        out: list[Episode] = []
        threshold = self.threshold
        if state.get("run") is None and samples:
            pick = min if self.op in ("<", "<=") else max
            if not beyond(pick(samples, key=_value)[1], threshold):
                return out  # the common case: nothing beyond, nothing running
        for t, value, backfilled in samples:
            run = state.get("run")
            if run is not None and (t - run["last"] > self.max_gap_s or not beyond(value, self.threshold)):
                if run["raised"]:
                    out.append(self._episode(run, closed=True))
                state["run"] = run = None
            if beyond(value, self.threshold):
                if run is None:
                    run = state["run"] = {"start": t, "last": t, "raised": False,
                                          "values": [], "backfilled": False,
                                          "extreme": value}
                run["last"] = t
                run["backfilled"] = run["backfilled"] or backfilled
                if len(run["values"]) < MAX_TRIGGER_VALUES:
                    run["values"].append([t, value])
                pick = min if self.op in ("<", "<=") else max
                run["extreme"] = pick(run["extreme"], value)
                if not run["raised"] and t - run["start"] >= self.min_duration_s:
                    run["raised"] = True
                    run["raised_at"] = t
                    out.append(self._episode(run, closed=False))
        return out

    def _episode(self, run: dict[str, Any], *, closed: bool) -> Episode:
        return Episode(self.rule_id, run["start"], run["last"], run["raised_at"],
                       [tuple(v) for v in run["values"]], run["backfilled"], closed,
                       {"extreme": run["extreme"], "threshold": self.threshold})
