"""Rules that judge a series derived from the readings with a sustained threshold:
rate of change, flatline, deviation from the subject's own baseline.

Each keeps what the derivation needs (the previous reading, the baseline's running
statistics) in its state next to the sustained-run state, so it resumes after a restart.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import numpy as np

from stream.flags.rules.episode import Episode, Sample
from stream.flags.rules.sustained import SustainedThreshold

_value = itemgetter(1)


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
    """The same value repeated for ``min_duration_s``: a stuck sensor, not a person.

    Runs of equal consecutive values (a value change, or a pause in the data longer than
    ``max_gap_s``, ends one) are found with numpy; only the batch's first and last run and
    runs long enough to raise are looked at in Python, so the cost per reading is small.
    """

    rule_id: str
    min_duration_s: float
    max_gap_s: float = 120.0

    def fold(self, state: dict[str, Any], samples: Sequence[Sample]) -> list[Episode]:
        out: list[Episode] = []
        n = len(samples)
        if n == 0:
            return out
        t = np.fromiter((s[0] for s in samples), float, n)
        v = np.fromiter((s[1] for s in samples), float, n)
        backfilled = np.fromiter((s[2] for s in samples), bool, n)
        new = np.ones(n, bool)
        new[1:] = (v[1:] != v[:-1]) | ((t[1:] - t[:-1]) > self.max_gap_s)
        starts = np.flatnonzero(new)
        ends = np.append(starts[1:], n) - 1  # inclusive
        carried = state.get("flat")
        continues = (carried is not None and carried["value"] == v[0]
                     and t[0] - carried["last"] <= self.max_gap_s)
        if carried is not None and not continues and carried["raised"]:
            out.append(self._episode(carried, closed=True))
        run_starts = t[starts]  # indexing with an index array copies: t stays as it is
        if continues:
            assert carried is not None  # continues implies a carried run
            run_starts[0] = carried["start"]
        long_enough = np.flatnonzero(t[ends] - run_starts >= self.min_duration_s).tolist()
        last = len(starts) - 1
        run: dict[str, Any] = {}
        for k in sorted({0, last, *long_enough}):
            a, e = int(starts[k]), int(ends[k])
            if k == 0 and continues:
                assert carried is not None
                run = carried
                run["last"] = float(t[e])
            else:
                run = {"value": float(v[a]), "start": float(t[a]), "last": float(t[e]),
                       "raised": False, "backfilled": False}
            run["backfilled"] = run["backfilled"] or bool(backfilled[a:e + 1].any())
            if not run["raised"] and run["last"] - run["start"] >= self.min_duration_s:
                run["raised"] = True
                run["raised_at"] = run["start"] + self.min_duration_s
                out.append(self._episode(run, closed=False))
            if k != last and run["raised"]:
                out.append(self._episode(run, closed=True))  # a later run ended it
        state["flat"] = run
        return out

    def _episode(self, run: dict[str, Any], *, closed: bool) -> Episode:
        return Episode(self.rule_id, run["start"], run["last"], run["raised_at"],
                       [(run["start"], run["value"]), (run["last"], run["value"])],
                       run["backfilled"], closed, {"value": run["value"]})


@dataclass(frozen=True)
class BaselineDeviation:
    """Sustained deviation of more than ``sd`` standard deviations from the subject's own
    baseline: an exponentially weighted mean and variance with a half-life in event time
    (Finch 2009, "Incremental calculation of weighted mean and variance"), judged only
    after ``warmup`` readings."""

    rule_id: str
    sd: float
    min_duration_s: float
    half_life_s: float = 24 * 3600.0
    warmup: int = 600
    max_gap_s: float = 300.0

    def fold(self, state: dict[str, Any], samples: Sequence[Sample]) -> list[Episode]:
        base = state.setdefault("baseline", {"n": 0, "mean": 0.0, "var": 0.0, "t": None})
        run_state = state.setdefault("run_state", {})
        if not samples:
            return []
        arr = np.array(samples, dtype=float)  # columns: time, value, backfilled
        t, v = arr[:, 0], arr[:, 1]
        # Scored against the baseline as it stood before this batch, which then learns from
        # the batch as a whole (a 24 h half-life barely moves within one batch), but never
        # from readings that deviate: a sustained deviation must not become the baseline.
        scores: list[Sample] = []
        if base["n"] >= self.warmup and base["var"] > 0:
            z = np.abs(v - base["mean"]) / math.sqrt(base["var"])
            keep = z <= self.sd
            if run_state.get("run") is not None or not keep.all():
                scores = list(zip(t.tolist(), z.tolist(), (s[2] for s in samples),
                                  strict=True))
            t, v = t[keep], v[keep]
        if len(v):
            _learn(base, t, v, self.half_life_s)
        # Nothing beyond and no run going: the sustained rule would change nothing.
        return SustainedThreshold(self.rule_id, ">", self.sd, self.min_duration_s,
                                  self.max_gap_s).fold(run_state, scores)


def _learn(base: dict[str, Any], times: np.ndarray, values: np.ndarray,
           half_life_s: float) -> None:
    """Merge a batch into the running mean/variance: exactly by counts while few readings
    were seen (Chan et al. parallel update), then as an EWMA by elapsed event time."""
    k = len(values)
    b_mean = float(values.mean())
    b_var = float(((values - b_mean) ** 2).mean())
    t_last = float(times.max())
    n = base["n"]
    if n == 0:
        base.update(n=k, mean=b_mean, var=b_var, t=t_last)
        return
    dt = max(0.0, t_last - base["t"])
    alpha = max(k / (n + k), 1.0 - 0.5 ** (dt / half_life_s))
    delta = b_mean - base["mean"]
    base["mean"] += alpha * delta
    base["var"] = (1 - alpha) * (base["var"] + alpha * delta * delta) + alpha * b_var
    base["n"] = n + k
    base["t"] = max(t_last, base["t"])
