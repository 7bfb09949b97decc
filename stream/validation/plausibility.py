"""Clinical plausibility: values a living, measured person can have, per metric.

Narrower than the storage sanity range (``devices.model.Metric.valid_min/max``): a heart
rate of 350/min is storable but not plausible, so it is dead-lettered with reason
``implausible_value`` and raises a data-quality flag instead of feeding the anomaly rules.
Bounds follow device specifications and physiology (e.g. CGMs report 40–400 mg/dL,
meters 20–600; SpO2 below 50% is not measured reliably by pulse oximetry).
"""

from __future__ import annotations

PLAUSIBLE: dict[str, tuple[float, float]] = {
    "heart_rate": (20, 250),
    "pulse_rate": (20, 250),
    "rr_interval": (200, 3_000),  # ms: 300/min .. 20/min
    "glucose": (20, 600),  # mg/dL
    "spo2": (50, 100),  # %
    "body_temperature": (30, 43),  # Cel
    "systolic_bp": (50, 280),  # mm[Hg]
    "diastolic_bp": (20, 180),
    "mean_arterial_pressure": (30, 220),
    "battery_level": (0, 100),
    "energy_expended": (0, 65_535),
}

def implausible(metric: str, value: float) -> str | None:
    """Why ``value`` is not plausible for ``metric``, or None when it is (unknown metrics pass:
    the storage check rejects those)."""
    bounds = PLAUSIBLE.get(metric)
    if bounds is None or bounds[0] <= value <= bounds[1]:
        return None
    return f"{metric} {value:g} outside the plausible range {bounds[0]:g}..{bounds[1]:g}"
