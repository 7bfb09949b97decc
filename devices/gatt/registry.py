"""Which codec decodes which characteristic, and a uniform JSON-friendly decode result.

Used by ``trialwire decode`` and by the gateway (which never decodes bytes itself).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum, IntFlag
from typing import Any, Literal

import msgspec

from devices.errors import DecodeError
from devices.gatt import (
    battery,
    blood_pressure,
    cgm,
    device_information,
    glucose,
    heart_rate,
    polar_pmd,
    pulse_oximeter,
    racp,
    thermometer,
)
from devices.gatt.date_time import UUID_CURRENT_TIME, UUID_DATE_TIME, CurrentTime, DateTimeValue
from devices.gatt.ieee11073 import MedFloat
from devices.model import Reading, SegmentSamples

logger = logging.getLogger(__name__)

BASE_UUID_SUFFIX = "-0000-1000-8000-00805f9b34fb"


class DecodeContext(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a decoder cannot know from the bytes alone."""

    e2e_crc_supported: bool | None = None  # from CGM Feature bit 12
    service: Literal["glucose", "cgm", "plx"] | None = None  # for RACP operands
    session_start: datetime | None = None  # CGM session start (device clock)
    ecg_sampling_rate_hz: float | None = None  # from the PMD start settings


def full_uuid(short: int) -> str:
    return f"{short:08x}{BASE_UUID_SUFFIX}"


_SHORT = re.compile(r"^(0x)?([0-9a-f]{4})$")
_LONG = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def normalize_uuid(text: str) -> str:
    """``0x2A37``, ``2a37`` or a 128-bit UUID → lowercase 128-bit form."""
    t = text.strip().lower()
    m = _SHORT.match(t)
    if m:
        return full_uuid(int(m.group(2), 16))
    if _LONG.match(t):
        return t
    raise DecodeError(f"characteristic {text!r} is neither a 16-bit UUID like 0x2A37 nor a "
                      f"128-bit UUID", reason="bad_uuid")


def display_uuid(uuid: str) -> str:
    """The SIG short form ``0x2A37`` for base-UUID characteristics, else the full UUID."""
    if uuid.endswith(BASE_UUID_SUFFIX) and uuid.startswith("0000"):
        return f"0x{uuid[4:8].upper()}"
    return uuid


Decoder = Callable[[bytes, DecodeContext], Any]


@dataclass(frozen=True, slots=True)
class CharacteristicCodec:
    uuid: str
    name: str
    decode: Decoder


def _plain(cls: Any) -> Decoder:
    return lambda data, _ctx: cls.from_bytes(data)


def _dis(name: str) -> Decoder:
    return lambda data, _ctx: device_information.DisString.from_bytes(data, name)


_CODECS: list[tuple[int | str, str, Decoder]] = [
    (heart_rate.UUID_MEASUREMENT, "Heart Rate Measurement", _plain(heart_rate.HeartRateMeasurement)),
    (heart_rate.UUID_BODY_SENSOR_LOCATION, "Body Sensor Location",
     _plain(heart_rate.BodySensorLocationValue)),
    (heart_rate.UUID_CONTROL_POINT, "Heart Rate Control Point",
     _plain(heart_rate.HeartRateControlPoint)),
    (glucose.UUID_MEASUREMENT, "Glucose Measurement", _plain(glucose.GlucoseMeasurement)),
    (glucose.UUID_CONTEXT, "Glucose Measurement Context", _plain(glucose.GlucoseContext)),
    (glucose.UUID_FEATURE, "Glucose Feature", _plain(glucose.GlucoseFeature)),
    (racp.UUID_RACP, "Record Access Control Point",
     lambda data, ctx: racp.decode_racp(data, ctx.service or "glucose")),
    (cgm.UUID_MEASUREMENT, "CGM Measurement",
     lambda data, ctx: cgm.CgmMeasurement.from_bytes(data, crc=ctx.e2e_crc_supported)),
    (cgm.UUID_FEATURE, "CGM Feature", _plain(cgm.CgmFeature)),
    (cgm.UUID_STATUS, "CGM Status",
     lambda data, ctx: cgm.CgmStatus.from_bytes(data, crc=ctx.e2e_crc_supported)),
    (cgm.UUID_SESSION_START_TIME, "CGM Session Start Time",
     lambda data, ctx: cgm.SessionStartTime.from_bytes(data, crc=ctx.e2e_crc_supported)),
    (cgm.UUID_SESSION_RUN_TIME, "CGM Session Run Time",
     lambda data, ctx: cgm.SessionRunTime.from_bytes(data, crc=ctx.e2e_crc_supported)),
    (cgm.UUID_SOCP, "CGM Specific Ops Control Point",
     lambda data, ctx: cgm.SpecificOpsControlPoint.from_bytes(data, crc=ctx.e2e_crc_supported)),
    (pulse_oximeter.UUID_SPOT_CHECK, "PLX Spot-check Measurement",
     _plain(pulse_oximeter.PlxSpotCheck)),
    (pulse_oximeter.UUID_CONTINUOUS, "PLX Continuous Measurement",
     _plain(pulse_oximeter.PlxContinuous)),
    (pulse_oximeter.UUID_FEATURES, "PLX Features", _plain(pulse_oximeter.PlxFeatures)),
    (thermometer.UUID_MEASUREMENT, "Temperature Measurement",
     _plain(thermometer.TemperatureMeasurement)),
    (thermometer.UUID_INTERMEDIATE, "Intermediate Temperature",
     _plain(thermometer.TemperatureMeasurement)),
    (thermometer.UUID_TYPE, "Temperature Type", _plain(thermometer.TemperatureType)),
    (blood_pressure.UUID_MEASUREMENT, "Blood Pressure Measurement",
     _plain(blood_pressure.BloodPressureMeasurement)),
    (blood_pressure.UUID_INTERMEDIATE_CUFF, "Intermediate Cuff Pressure",
     _plain(blood_pressure.BloodPressureMeasurement)),
    (blood_pressure.UUID_FEATURE, "Blood Pressure Feature",
     _plain(blood_pressure.BloodPressureFeature)),
    (battery.UUID_LEVEL, "Battery Level", _plain(battery.BatteryLevel)),
    (device_information.UUID_SYSTEM_ID, "System ID", _plain(device_information.SystemId)),
    (device_information.UUID_PNP_ID, "PnP ID", _plain(device_information.PnpId)),
    (UUID_DATE_TIME, "Date Time", _plain(DateTimeValue)),
    (UUID_CURRENT_TIME, "Current Time", _plain(CurrentTime)),
    (polar_pmd.UUID_CONTROL_POINT, "Polar PMD Control Point",
     lambda data, _ctx: polar_pmd.decode_control_point(data)),
    (polar_pmd.UUID_DATA, "Polar PMD Data", _plain(polar_pmd.EcgFrame)),
]
_CODECS += [(short, name.replace("_", " ").title(), _dis(name.replace("_", " ").title()))
            for short, name in device_information.STRING_CHARACTERISTICS.items()]

CODECS: dict[str, CharacteristicCodec] = {}
for key, name, decoder in _CODECS:
    uuid = full_uuid(key) if isinstance(key, int) else key
    CODECS[uuid] = CharacteristicCodec(uuid, name, decoder)


def lookup(characteristic: str) -> CharacteristicCodec:
    uuid = normalize_uuid(characteristic)
    try:
        return CODECS[uuid]
    except KeyError:
        raise DecodeError(f"no decoder for characteristic {display_uuid(uuid)}",
                          reason="unknown_characteristic") from None


@dataclass(frozen=True, slots=True)
class Decoded:
    """A decoded value with its normalized readings and waveform samples."""

    codec: CharacteristicCodec
    value: Any
    readings: list[Reading]
    segments: list[SegmentSamples]

    def to_json(self) -> dict[str, Any]:
        return {
            "valid": True,
            "characteristic": display_uuid(self.codec.uuid),
            "name": self.codec.name,
            "fields": jsonable(self.value),
            "readings": [reading_json(r) for r in self.readings],
            **({"segments": [jsonable(s) for s in self.segments]} if self.segments else {}),
        }


def decode(characteristic: str, data: bytes, context: DecodeContext | None = None) -> Decoded:
    """Decode ``data``; only :class:`DecodeError` ever escapes."""
    codec = lookup(characteristic)
    ctx = context or DecodeContext()
    try:
        value = codec.decode(bytes(data), ctx)
        if isinstance(value, cgm.CgmMeasurement):
            readings = value.readings(ctx.session_start)
        else:
            readings = value.readings()
        segments = []
        if isinstance(value, polar_pmd.EcgFrame):
            segments = [value.segment(ctx.ecg_sampling_rate_hz or polar_pmd.DEFAULT_ECG_RATE_HZ)]
    except DecodeError:
        raise
    except Exception as exc:  # a decoder bug must not crash the gateway: count it as bad input
        logger.exception("decoder for %s raised %s", codec.name, type(exc).__name__)
        raise DecodeError(f"{codec.name}: internal decoder error ({type(exc).__name__})",
                          reason="decoder_bug") from exc
    return Decoded(codec, value, readings, segments)


_DEFAULT_READING = Reading(metric="", value=0.0, unit="")


def reading_json(reading: Reading) -> dict[str, Any]:
    """metric/value/unit plus whichever optional fields are set."""
    out: dict[str, Any] = {"metric": reading.metric, "value": reading.value, "unit": reading.unit}
    for name in ("device_time", "offset_ms", "record", "specimen", "quality"):
        value = getattr(reading, name)
        if value != getattr(_DEFAULT_READING, name):
            out[name] = jsonable(value)
    return out


def jsonable(value: Any) -> Any:
    """Dataclasses, enums, flags, MedFloat, datetimes and bytes as plain JSON values."""
    if isinstance(value, MedFloat):
        return value.describe()
    if isinstance(value, IntFlag):
        return sorted((f.name or "").lower() for f in type(value) if f in value and f.value)
    if isinstance(value, Enum):
        return value.name.lower()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return value.hex()
    if isinstance(value, Decimal):
        return float(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, msgspec.Struct):
        return {f: jsonable(getattr(value, f)) for f in value.__struct_fields__}
    if isinstance(value, dict):
        return {jsonable(k) if not isinstance(k, str) else k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
