"""The flag engine: folds each subject's new readings through the study's rules in event
time and turns episodes into flags.

State is one JSON-able dict per subject (kept in a Faust table, so it survives restarts
through the table's changelog): per ``device|metric`` the last event time folded (the
key's event-time watermark) and each rule's state. Readings at or before that watermark
are late (backfill, out-of-order delivery): they are not folded into the live state but
re-judged over the stored readings around them (:meth:`FlagEngine.refold`), so a late
episode is still found and an existing one is merged, not doubled.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from devices.model import Observation, Quality
from stream.contract.flag import Flag
from stream.flags.config import RuleSpec
from stream.flags.flag import from_episode, utc
from stream.flags.rules.episode import Sample

# How far before the first late reading a refold starts: the longest rule duration plus
# the longest gap tolerated inside a run.
REFOLD_LOOKBACK_S = 3600.0


@dataclass(frozen=True)
class LateRange:
    """Stored readings of one key that must be re-judged: [start, end] in event time."""

    subject: str
    device_id: str
    metric: str
    start: datetime
    end: datetime


_BACKFILLED = int(Quality.BACKFILLED)  # a plain int: IntFlag arithmetic is slow per reading


def samples_of(observations: Iterable[Observation]) -> list[Sample]:
    return sorted((o.time.timestamp(), o.value, bool(o.quality & _BACKFILLED))
                  for o in observations)


class FlagEngine:
    def __init__(self, rules_for_study: Callable[[str], dict[str, RuleSpec]]) -> None:
        self.rules_for_study = rules_for_study

    def _rules_for(self, study: str, metric: str) -> list[RuleSpec]:
        return [r for r in self.rules_for_study(study).values()
                if r.detector is not None and metric in r.metrics]

    def fold(self, state: dict[str, Any], *, study: str, subject: str,
             observations: list[Observation]) -> tuple[list[Flag], list[LateRange]]:
        """Fold one subject's newly stored readings into ``state`` (mutated)."""
        by_key: dict[tuple[str, str], list[Observation]] = {}
        for obs in observations:
            by_key.setdefault((obs.device_id, obs.metric), []).append(obs)
        flags: list[Flag] = []
        late: list[LateRange] = []
        keys = state.setdefault("keys", {})
        for (device_id, metric), group in by_key.items():
            rules = self._rules_for(study, metric)
            if not rules:
                continue
            key_state = keys.setdefault(f"{device_id}|{metric}", {"last": None, "rules": {}})
            samples = samples_of(group)
            last = key_state["last"]
            fresh = samples if last is None else [s for s in samples if s[0] > last]
            behind = [] if last is None else [s for s in samples if s[0] <= last]
            if behind:
                late.append(LateRange(subject, device_id, metric, utc(behind[0][0]),
                                      utc(max(last, behind[-1][0]))))
            if fresh:
                key_state["last"] = fresh[-1][0]
                flags += self._judge(rules, key_state["rules"], fresh, study=study,
                                     subject=subject, device_id=device_id, metric=metric)
        return flags, late

    def refold(self, *, study: str, late: LateRange, samples: list[Sample]) -> list[Flag]:
        """Re-judge stored ``samples`` around a late range from fresh rule states."""
        rules = self._rules_for(study, late.metric)
        return self._judge(rules, {}, samples, study=study, subject=late.subject,
                           device_id=late.device_id, metric=late.metric)

    def _judge(self, rules: list[RuleSpec], rule_states: dict[str, Any], samples: list[Sample],
               *, study: str, subject: str, device_id: str, metric: str) -> list[Flag]:
        flags = []
        for rule in rules:
            rule_state = rule_states.get(rule.rule_id)
            if rule_state is None or rule_state.get("version") != rule.version:
                rule_state = rule_states[rule.rule_id] = {"version": rule.version}
            assert rule.detector is not None  # rules without one were filtered out above
            for episode in rule.detector.fold(rule_state, samples):
                flags.append(from_episode(episode, study=study, subject=subject,
                                          device_id=device_id, metric=metric,
                                          version=rule.version, severity=rule.severity))
        return flags
