"""RR-interval irregularity suggesting atrial fibrillation.

Per ~2-minute window of RR intervals, the statistics of Dash et al. (Ann Biomed Eng 2009,
"Automatic real time detection of atrial fibrillation"): normalised RMSSD (RMSSD / mean
RR) above 0.1 and Shannon entropy of the RR histogram (16 bins) above 0.7, after dropping
the 8 shortest and 8 longest intervals as ectopic/outlier beats. Two consecutive irregular
windows (``min_duration_s``) raise the flag.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from stream.flags.rules.episode import Episode, Sample
from stream.flags.rules.sustained import SustainedThreshold

OUTLIERS_DROPPED = 8
BINS = 16


def irregularity(rr_ms: list[float]) -> tuple[float, float]:
    """Pure: (normalised RMSSD, Shannon entropy 0..1) of a window of RR intervals."""
    rr = sorted(rr_ms)[OUTLIERS_DROPPED:-OUTLIERS_DROPPED] if len(rr_ms) > 4 * OUTLIERS_DROPPED \
        else list(rr_ms)
    ordered = [v for v in rr_ms if rr and rr[0] <= v <= rr[-1]]
    if len(ordered) < 3:
        return 0.0, 0.0
    diffs = [b - a for a, b in itertools.pairwise(ordered)]
    rmssd = math.sqrt(sum(d * d for d in diffs) / len(diffs))
    nrmssd = rmssd / (sum(ordered) / len(ordered))
    lo, hi = min(ordered), max(ordered)
    if hi == lo:
        return nrmssd, 0.0
    counts = [0] * BINS
    for v in ordered:
        counts[min(BINS - 1, int((v - lo) / (hi - lo) * BINS))] += 1
    n = len(ordered)
    entropy = -sum(c / n * math.log(c / n) for c in counts if c) / math.log(BINS)
    return nrmssd, entropy


@dataclass(frozen=True)
class RrIrregularity:
    rule_id: str
    window_s: float = 120.0
    min_beats: int = 60
    nrmssd: float = 0.1
    entropy: float = 0.7
    min_duration_s: float = 120.0

    def fold(self, state: dict[str, Any], samples: Iterable[Sample]) -> list[Episode]:
        verdicts: list[Sample] = []
        for t, rr, backfilled in samples:
            window = state.setdefault("window", {"start": t, "rr": [], "backfilled": False})
            if t - window["start"] >= self.window_s:
                if len(window["rr"]) >= self.min_beats:
                    nrmssd, entropy = irregularity(window["rr"])
                    irregular = nrmssd > self.nrmssd and entropy > self.entropy
                    verdicts.append((window["start"], 1.0 if irregular else 0.0,
                                     window["backfilled"]))
                window = state["window"] = {"start": t, "rr": [], "backfilled": False}
            window["rr"].append(rr)
            window["backfilled"] = window["backfilled"] or backfilled
        return SustainedThreshold(self.rule_id, ">=", 1.0, self.min_duration_s,
                                  2.5 * self.window_s).fold(state.setdefault("run_state", {}),
                                                            verdicts)
