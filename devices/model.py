"""The normalized observation model: metric vocabulary (UCUM units, MDC and LOINC codes),
one reading (:class:`Observation`) and one ECG waveform segment (:class:`WaveformSegment`).

Every reading leaving ``devices`` is already in the metric's canonical unit; conversions
(mmol/L → mg/dL, kPa → mmHg, °F → °C) happen here once, never downstream.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from enum import IntFlag

import msgspec

from devices.errors import UnknownMetricError


@dataclass(frozen=True, slots=True)
class Metric:
    """One entry of the vocabulary.

    ``valid_min``/``valid_max`` bound what is physically possible for the metric (a
    storage-level sanity range, wider than clinical plausibility used by the stream).
    """

    name: str
    unit: str  # UCUM
    description: str
    valid_min: float
    valid_max: float
    mdc: str | None = None  # IEEE 11073-10101 reference id
    mdc_code: int | None = None  # 32-bit context-free code (partition << 16 | term)
    loinc: str | None = None


# Codes: IEEE 11073-10101 reference ids with their 32-bit codes (partition << 16 | term)
# and LOINC, as used by the HL7 PHD and vital-signs profiles; sources in docs/devices.md.
# rr_interval's and energy_expended's LOINC codes are only supported by third-party use
# and are left out rather than guessed. pulse_rate keeps 8867-4, which the FHIR R4
# heart-rate profile requires for pulse-oximeter rates too.
METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("heart_rate", "/min", "Heart rate", 0, 400,
               "MDC_ECG_HEART_RATE", 147842, "8867-4"),
        Metric("rr_interval", "ms", "Interval between successive R waves", 0, 10_000,
               "MDC_ECG_TIME_PD_RR_GL", 147240, None),
        Metric("energy_expended", "kJ", "Cumulative energy expended", 0, 65_535,
               "MDC_HF_ENERGY", 8454263, None),
        Metric("glucose", "mg/dL", "Glucose concentration (specimen kept with the reading)",
               0, 2_000, "MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD", 160184, "41653-7"),
        Metric("spo2", "%", "Peripheral oxygen saturation", 0, 100,
               "MDC_PULS_OXIM_SAT_O2", 150456, "59408-5"),
        Metric("pulse_rate", "/min", "Pulse rate from pulse oximetry", 0, 400,
               "MDC_PULS_OXIM_PULS_RATE", 149530, "8867-4"),
        Metric("body_temperature", "Cel", "Body temperature", 10, 50,
               "MDC_TEMP_BODY", 150364, "8310-5"),
        Metric("systolic_bp", "mm[Hg]", "Systolic blood pressure", 0, 400,
               "MDC_PRESS_BLD_NONINV_SYS", 150021, "8480-6"),
        Metric("diastolic_bp", "mm[Hg]", "Diastolic blood pressure", 0, 400,
               "MDC_PRESS_BLD_NONINV_DIA", 150022, "8462-4"),
        Metric("mean_arterial_pressure", "mm[Hg]", "Mean arterial pressure", 0, 400,
               "MDC_PRESS_BLD_NONINV_MEAN", 150023, "8478-0"),
        Metric("battery_level", "%", "Device battery level", 0, 100,
               "MDC_ATTR_VAL_BATT_CHARGE", 67996, None),
    )
}

# Glucose codes depend on the specimen: interstitial (CGM) has its own MDC and LOINC code.
GLUCOSE_CODES: dict[str, tuple[str, int, str | None]] = {
    "capillary_blood": ("MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD", 160184, "41653-7"),
    "interstitial_fluid": ("MDC_CONC_GLU_ISF", 160212, "99504-3"),
    "plasma": ("MDC_CONC_GLU_CAPILLARY_PLASMA", 160188, "2345-7"),
}

# ECG waveform segments: one lead's potential, in µV.
ECG_LEADS: dict[str, tuple[str, int]] = {
    "I": ("MDC_ECG_ELEC_POTL_I", 131329),
    "II": ("MDC_ECG_ELEC_POTL_II", 131330),
    "unspecified": ("MDC_ECG_ELEC_POTL", 131328),
}
ECG_UNIT = "uV"


def metric(name: str) -> Metric:
    """Look up a metric by name; unknown names raise :class:`UnknownMetricError`."""
    try:
        return METRICS[name]
    except KeyError:
        raise UnknownMetricError(f"unknown metric {name!r}") from None


class Specimen:
    """Where a glucose value was measured (kept because capillary and ISF values differ)."""

    CAPILLARY_BLOOD = "capillary_blood"
    INTERSTITIAL_FLUID = "interstitial_fluid"
    VENOUS_BLOOD = "venous_blood"
    ARTERIAL_BLOOD = "arterial_blood"
    PLASMA = "plasma"
    CONTROL_SOLUTION = "control_solution"
    UNKNOWN = "unknown"


class Quality(IntFlag):
    """Quality/status bits stored with every reading (0 = nothing to report)."""

    BACKFILLED = 0x01  # fetched from the device's record store after a reconnect
    DEVICE_FLAGGED = 0x02  # the device's own status/annunciation bits reported a problem
    CLOCK_UNCERTAIN = 0x04  # device clock unknown or offset estimate not yet stable
    SENSOR_CONTACT_LOST = 0x08
    CALIBRATION = 0x10  # device in warm-up/calibration
    OUT_OF_RANGE_DEVICE = 0x20  # the device reported the value as outside its range


class Observation(msgspec.Struct, frozen=True, kw_only=True):
    """One normalized reading.

    ``seq`` with ``device_id``, ``metric`` and ``time`` is the natural key: the gateway's
    per-device sequence number, or the device's own record number for stored records,
    so a re-sent or backfilled reading always maps to the same row.
    """

    time: datetime  # measured, UTC (device clock corrected by the gateway)
    subject: str  # pseudonymous subject code, never a name
    device_id: str
    metric: str
    value: float
    unit: str
    seq: int
    received_at: datetime  # when the gateway received it, UTC
    quality: int = 0
    gateway_id: str | None = None
    specimen: str | None = None
    clock_offset_ms: float | None = None


class WaveformSegment(msgspec.Struct, frozen=True, kw_only=True):
    """A run of equally spaced samples (ECG): stored as one row, not one row per sample."""

    time: datetime  # time of the first sample, UTC
    subject: str
    device_id: str
    lead: str
    sampling_rate_hz: float
    samples: list[float]  # µV
    seq: int
    received_at: datetime
    unit: str = "uV"
    quality: int = 0
    gateway_id: str | None = None
    clock_offset_ms: float | None = None


class Reading(msgspec.Struct, frozen=True, kw_only=True):
    """One normalized value decoded from a characteristic, before the gateway stamps it.

    ``device_time`` is the time the payload itself carries (device-local clock, naive)
    if any; ``offset_ms`` places the value relative to the notification (successive RR
    intervals); ``record`` is the device's own record number (glucose sequence, CGM time
    offset), which makes backfilled and live copies of a record the same reading.
    """

    metric: str
    value: float
    unit: str
    device_time: datetime | None = None
    offset_ms: float = 0.0
    record: int | None = None
    specimen: str | None = None
    quality: int = 0


class SegmentSamples(msgspec.Struct, frozen=True, kw_only=True):
    """Waveform samples decoded from one notification, before the gateway stamps them.

    ``device_time`` is the first sample's time on the device clock (naive), if known.
    """

    lead: str
    sampling_rate_hz: float
    samples: list[float]  # µV
    unit: str = "uV"
    device_time: datetime | None = None


def check_value(name: str, value: float) -> str | None:
    """Why ``value`` cannot be stored for metric ``name``, or None when it can."""
    try:
        spec = metric(name)
    except UnknownMetricError as exc:
        return str(exc)
    if not math.isfinite(value):
        return f"{name} value {value!r} is not a finite number"
    if not spec.valid_min <= value <= spec.valid_max:
        return (f"{name} value {value} {spec.unit} is outside the possible range "
                f"{spec.valid_min}..{spec.valid_max} {spec.unit}")
    return None
