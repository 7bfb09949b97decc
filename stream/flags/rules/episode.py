"""What a rule reports: an episode of a condition, in event time."""

from __future__ import annotations

from dataclasses import dataclass, field

Sample = tuple[float, float, bool]  # (event time in epoch seconds, value, backfilled)

MAX_TRIGGER_VALUES = 20  # a flag keeps at most this many of the readings that raised it


@dataclass
class Episode:
    """``onset``..``end`` (epoch s) of a condition; ``raised_at`` is the event time at which
    the rule's criterion was met (onset + the sustained duration)."""

    rule_id: str
    onset: float
    end: float
    raised_at: float
    values: list[tuple[float, float]] = field(default_factory=list)
    backfilled: bool = False
    closed: bool = False  # the condition has ended (end is final)
    details: dict[str, float] = field(default_factory=dict)
