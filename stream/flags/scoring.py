"""Scoring flags against the simulators' ground truth: sensitivity, positive predictive
value and onset delay, per event kind (pure)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from devices.sim.scenario import EventKind

# Which rule's flags answer which simulated event.
RULES_FOR_EVENT: dict[EventKind, tuple[str, ...]] = {
    EventKind.HYPOGLYCEMIA: ("glucose_hypo_l2",),
    EventKind.HYPERGLYCEMIA: ("glucose_hyper_l2",),
    EventKind.TACHYCARDIA: ("hr_tachycardia",),
    EventKind.BRADYCARDIA: ("hr_bradycardia",),
    EventKind.ATRIAL_FIBRILLATION: ("hr_irregular_rr",),
    EventKind.DESATURATION: ("spo2_desaturation",),
    EventKind.FEVER: ("fever",),
    EventKind.LOW_BATTERY: ("battery_low",),
}

# A flag may extend a little past the event (the signal recovers gradually).
TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True)
class Truth:
    subject: str
    kind: EventKind
    start: datetime
    end: datetime


@dataclass(frozen=True)
class RaisedFlag:
    subject: str
    rule_id: str
    start: datetime
    end: datetime
    raised_at: datetime | None = None  # event time the rule's criterion was met


@dataclass(frozen=True)
class Score:
    events: int
    detected: int
    flags: int
    true_flags: int
    onset_delays_s: tuple[float, ...]
    raise_delays_s: tuple[float, ...] = ()

    @property
    def sensitivity(self) -> float | None:
        return self.detected / self.events if self.events else None

    @property
    def ppv(self) -> float | None:
        return self.true_flags / self.flags if self.flags else None

    @property
    def median_onset_delay_s(self) -> float | None:
        return statistics.median(self.onset_delays_s) if self.onset_delays_s else None

    @property
    def median_raise_delay_s(self) -> float | None:
        return statistics.median(self.raise_delays_s) if self.raise_delays_s else None


def _matches(flag: RaisedFlag, truth: Truth) -> bool:
    return (flag.subject == truth.subject and flag.rule_id in RULES_FOR_EVENT[truth.kind]
            and flag.start <= truth.end + TOLERANCE and flag.end >= truth.start - TOLERANCE)


def score(truths: list[Truth], flags: list[RaisedFlag], kinds: set[EventKind]) -> Score:
    """Score the flags of the rules answering ``kinds`` against the truths of those kinds.

    Sensitivity: events with at least one matching flag. PPV: flags that match an event.
    Onset delay: per detected event, the earliest matching flag's window start after the
    event's start (0 if the flag starts earlier). Raise delay: the same for the event time
    at which the flag's criterion was met (onset + the rule's sustained duration).
    """
    rules = {r for kind in kinds for r in RULES_FOR_EVENT.get(kind, ())}
    relevant_truths = [t for t in truths if t.kind in kinds]
    relevant_flags = [f for f in flags if f.rule_id in rules]
    delays = []
    raised = []
    for truth in relevant_truths:
        matching = [f for f in relevant_flags if _matches(f, truth)]
        if matching:
            delays.append(max(0.0, (min(f.start for f in matching) - truth.start).total_seconds()))
            raise_times = [f.raised_at for f in matching if f.raised_at is not None]
            if raise_times:
                raised.append(max(0.0, (min(raise_times) - truth.start).total_seconds()))
    true_flags = sum(1 for f in relevant_flags if any(_matches(f, t) for t in relevant_truths))
    return Score(events=len(relevant_truths), detected=len(delays), flags=len(relevant_flags),
                 true_flags=true_flags, onset_delays_s=tuple(delays),
                 raise_delays_s=tuple(raised))
