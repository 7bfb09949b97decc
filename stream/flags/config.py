"""Rule configuration: the packaged defaults (``default_rules.yaml``) with per-study
overrides from the study's settings (``studies.settings -> 'rules'``)."""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import msgspec
import yaml

from stream.flags.rules.derived import BaselineDeviation, Flatline, RateOfChange
from stream.flags.rules.rr_irregularity import RrIrregularity
from stream.flags.rules.sustained import COMPARATORS, SustainedThreshold

Severity = Literal["info", "low", "medium", "high", "critical"]

# Kinds folded per reading; the data-quality kinds below are judged by the engine.
READING_KINDS: dict[str, type] = {
    "threshold": SustainedThreshold, "rate_of_change": RateOfChange, "flatline": Flatline,
    "baseline_deviation": BaselineDeviation, "rr_irregularity": RrIrregularity,
}
ENGINE_KINDS = ("device_silent", "clock_drift", "impossible_value", "data_dropped")


class RuleConfigError(ValueError):
    """A rule definition that cannot be used; the message names the rule and the field."""


@dataclass(frozen=True)
class RuleSpec:
    rule_id: str
    kind: str
    version: int
    severity: Severity
    metrics: tuple[str, ...]
    params: dict[str, Any]
    detector: Any | None  # the pure rule object for reading kinds

    def param(self, name: str) -> Any:
        return self.params[name]


def _build(rule_id: str, raw: dict[str, Any]) -> RuleSpec:
    raw = dict(raw)
    kind = raw.pop("kind", None)
    version = raw.pop("version", 1)
    severity = raw.pop("severity", "medium")
    metrics = tuple(raw.pop("metrics", ()))
    enabled = raw.pop("enabled", True)
    if kind not in READING_KINDS and kind not in ENGINE_KINDS:
        raise RuleConfigError(f"rule {rule_id}: unknown kind {kind!r}")
    if severity not in ("info", "low", "medium", "high", "critical"):
        raise RuleConfigError(f"rule {rule_id}: unknown severity {severity!r}")
    if not isinstance(version, int) or version < 1:
        raise RuleConfigError(f"rule {rule_id}: version must be a positive integer")
    detector = None
    if kind in READING_KINDS:
        if not metrics:
            raise RuleConfigError(f"rule {rule_id}: a {kind} rule needs metrics")
        try:
            detector = READING_KINDS[kind](rule_id, **raw)
        except TypeError as exc:
            raise RuleConfigError(f"rule {rule_id}: {exc}") from None
        _check_values(rule_id, detector)
    if not isinstance(enabled, bool):
        raise RuleConfigError(f"rule {rule_id}: enabled must be true or false")
    if kind in ENGINE_KINDS:  # the engine reads these parameters as numbers
        for name, value in raw.items():
            _check_number(rule_id, name, value)
    if not all(isinstance(m, str) and m for m in metrics):
        raise RuleConfigError(f"rule {rule_id}: metrics must be metric names")
    return RuleSpec(rule_id, kind, version, severity, metrics, raw, detector)


def _check_values(rule_id: str, detector: Any) -> None:
    """Each parameter of the detector has its declared type: a finite, non-negative number
    (an integer where one is declared), or for ``op`` a known comparator. A study's
    override comes from the API, so a bad value must stop here, not in the worker."""
    hints = typing.get_type_hints(type(detector))
    for f in dataclasses.fields(detector):
        value, hint = getattr(detector, f.name), hints.get(f.name)
        if f.name == "rule_id":
            continue
        if f.name == "op":
            if value not in COMPARATORS:
                raise RuleConfigError(f"rule {rule_id}: op must be one of "
                                      f"{', '.join(COMPARATORS)}, not {value!r}")
        elif hint in (float, int):
            _check_number(rule_id, f.name, value, whole=hint is int)


def _check_number(rule_id: str, name: str, value: Any, *, whole: bool = False) -> None:
    """A rule parameter is a finite number ≥ 0 (an integer when ``whole``)."""
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    if (not numeric or not math.isfinite(value) or value < 0
            or (whole and not isinstance(value, int))):
        kind = "a whole number" if whole else "a finite number"
        raise RuleConfigError(f"rule {rule_id}: {name} must be {kind} ≥ 0, not {value!r}")


def merged_definitions(overrides: dict[str, dict[str, Any]] | None = None,
                       defaults: dict[str, dict[str, Any]] | None = None,
                       ) -> dict[str, dict[str, Any]]:
    """Every rule's raw definition: defaults with ``overrides`` merged per rule (new ids
    allowed), disabled ones included (``enabled: false``)."""
    base = defaults if defaults is not None else default_definitions()
    merged: dict[str, dict[str, Any]] = {k: dict(v) for k, v in base.items()}
    for rule_id, change in (overrides or {}).items():
        if not isinstance(change, dict):
            raise RuleConfigError(f"rule {rule_id}: expected a mapping, got {change!r}")
        merged.setdefault(rule_id, {}).update(change)
    return merged


def load_rules(overrides: dict[str, dict[str, Any]] | None = None,
               defaults: dict[str, dict[str, Any]] | None = None) -> dict[str, RuleSpec]:
    """The enabled rules: defaults with ``overrides`` merged per rule (new ids allowed)."""
    return {rule_id: _build(rule_id, raw)
            for rule_id, raw in merged_definitions(overrides, defaults).items()
            if raw.get("enabled", True)}


def default_definitions() -> dict[str, dict[str, Any]]:
    text = resources.files("stream.flags").joinpath("default_rules.yaml").read_text()
    rules: dict[str, dict[str, Any]] = yaml.safe_load(text)["rules"]
    return rules


def definitions_from_file(path: Path) -> dict[str, dict[str, Any]]:
    """Rule definitions from a YAML file shaped like ``default_rules.yaml``."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise RuleConfigError(f"{path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("rules"), dict):
        raise RuleConfigError(f"{path}: expected a mapping with a 'rules' mapping")
    rules: dict[str, dict[str, Any]] = data["rules"]
    return rules


def study_overrides(settings: dict[str, Any] | str | bytes | None) -> dict[str, dict[str, Any]]:
    """The ``rules`` part of a study's settings (jsonb)."""
    decoded: dict[str, Any] | None = (msgspec.json.decode(settings)
                                      if isinstance(settings, (str, bytes)) else settings)
    return dict((decoded or {}).get("rules", {}))
