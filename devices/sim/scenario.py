"""Scripted scenarios: events on a simulated timeline, each with its ground truth.

A scenario is a list of :class:`Event` windows relative to the start of the simulation.
Signal generators read the active events to shape the physiology; the ground truth a
flag scorer compares against is exactly these windows (ramps happen outside them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

import msgspec


class EventKind(StrEnum):
    HYPOGLYCEMIA = "hypoglycemia"  # glucose held below the level-2 threshold (< 54 mg/dL)
    HYPERGLYCEMIA = "hyperglycemia"  # glucose above the level-2 threshold (> 250 mg/dL)
    TACHYCARDIA = "tachycardia"  # heart rate sustained above 120 /min
    BRADYCARDIA = "bradycardia"  # heart rate sustained below 45 /min
    ATRIAL_FIBRILLATION = "atrial_fibrillation"  # irregularly irregular RR intervals
    DESATURATION = "desaturation"  # SpO2 below 90 %
    FEVER = "fever"  # body temperature at or above 38.0 °C
    LINK_LOSS = "link_loss"  # device out of radio range (stops advertising, disconnects)
    LOW_BATTERY = "low_battery"  # battery level below 15 %
    CLOCK_DRIFT = "clock_drift"  # device clock runs fast by ``params["ppm"]``
    SENSOR_WARMUP = "sensor_warmup"  # CGM session just started: no glucose values
    SESSION_RESTART = "session_restart"  # CGM session stopped and restarted (offsets from 0)


class Event(msgspec.Struct, frozen=True, kw_only=True):
    kind: EventKind
    start_s: float  # seconds after simulation start
    end_s: float
    device: str | None = None  # device type it concerns; None = the subject
    params: dict[str, float] = {}

    def active(self, t_s: float) -> bool:
        return self.start_s <= t_s < self.end_s


class GroundTruth(msgspec.Struct, frozen=True, kw_only=True):
    """One event in absolute time, as the flag scorer consumes it."""

    scenario: str
    kind: EventKind
    start: datetime
    end: datetime
    device: str | None = None


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    events: tuple[Event, ...] = ()
    duration_s: float = 3600.0  # how long the scenario needs to play out
    tags: frozenset[str] = field(default_factory=frozenset)

    def active(self, kind: EventKind, t_s: float, device: str | None = None) -> Event | None:
        for event in self.events:
            if event.kind == kind and event.active(t_s) and (
                    device is None or event.device in (None, device)):
                return event
        return None

    def ground_truth(self, start: datetime) -> list[GroundTruth]:
        return [GroundTruth(scenario=self.name, kind=e.kind,
                            start=start + timedelta(seconds=e.start_s),
                            end=start + timedelta(seconds=e.end_s), device=e.device)
                for e in self.events]


MIN = 60.0
HOUR = 3600.0

SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("baseline", "A quiet day: circadian drift, meals, normal vitals", (), 2 * HOUR),
    Scenario("hypo", "Level-2 hypoglycaemia for 40 minutes after 10 minutes",
             (Event(kind=EventKind.HYPOGLYCEMIA, start_s=10 * MIN, end_s=50 * MIN,
                    params={"level": 45.0}),), 70 * MIN),
    Scenario("hyper", "Level-2 hyperglycaemia for 60 minutes after 10 minutes",
             (Event(kind=EventKind.HYPERGLYCEMIA, start_s=10 * MIN, end_s=70 * MIN,
                    params={"level": 290.0}),), 90 * MIN),
    Scenario("tachycardia", "Sustained tachycardia (~135 /min) for 20 minutes",
             (Event(kind=EventKind.TACHYCARDIA, start_s=5 * MIN, end_s=25 * MIN,
                    params={"rate": 135.0}),), 35 * MIN),
    Scenario("bradycardia", "Sustained bradycardia (~40 /min) for 15 minutes",
             (Event(kind=EventKind.BRADYCARDIA, start_s=5 * MIN, end_s=20 * MIN,
                    params={"rate": 40.0}),), 30 * MIN),
    Scenario("af", "Irregular RR intervals (AF-like) for 30 minutes",
             (Event(kind=EventKind.ATRIAL_FIBRILLATION, start_s=5 * MIN, end_s=35 * MIN,
                    params={"rate": 105.0, "cv": 0.22}),), 45 * MIN),
    Scenario("desaturation", "SpO2 at ~85 % for 3 minutes",
             (Event(kind=EventKind.DESATURATION, start_s=5 * MIN, end_s=8 * MIN,
                    params={"level": 85.0}),), 15 * MIN),
    Scenario("fever", "Body temperature at ~38.6 °C for two hours",
             (Event(kind=EventKind.FEVER, start_s=15 * MIN, end_s=135 * MIN,
                    params={"level": 38.6}),), 150 * MIN),
    Scenario("link_loss", "CGM and glucose meter out of range for 10 minutes",
             (Event(kind=EventKind.LINK_LOSS, start_s=5 * MIN, end_s=15 * MIN, device="cgm"),
              Event(kind=EventKind.LINK_LOSS, start_s=5 * MIN, end_s=15 * MIN,
                    device="glucose_meter")), 25 * MIN),
    Scenario("low_battery", "Smartwatch battery falls below 15 %",
             (Event(kind=EventKind.LOW_BATTERY, start_s=10 * MIN, end_s=40 * MIN,
                    device="smartwatch", params={"level": 9.0}),), 45 * MIN),
    Scenario("clock_drift", "ECG patch and glucose meter clocks run 500 ppm fast",
             (Event(kind=EventKind.CLOCK_DRIFT, start_s=0, end_s=4 * HOUR, device="ecg_patch",
                    params={"ppm": 500.0}),
              Event(kind=EventKind.CLOCK_DRIFT, start_s=0, end_s=4 * HOUR,
                    device="glucose_meter", params={"ppm": 500.0})), 4 * HOUR),
    Scenario("cgm_warmup", "CGM sensor warm-up, then a session restart with a new warm-up",
             (Event(kind=EventKind.SENSOR_WARMUP, start_s=0, end_s=30 * MIN, device="cgm"),
              Event(kind=EventKind.SESSION_RESTART, start_s=60 * MIN, end_s=90 * MIN,
                    device="cgm")), 2 * HOUR),
)}


def scenario(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        known = ", ".join(sorted(SCENARIOS))
        raise KeyError(f"unknown scenario {name!r} (known: {known})") from None
