"""Blood Pressure 0x1810: Blood Pressure Measurement 0x2A35 (and Intermediate Cuff Pressure
0x2A36, same layout), Blood Pressure Feature 0x2A49 (``shared/ble-profiles.md`` §6.2)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntFlag

from devices.gatt._codec import Reader, Writer
from devices.gatt.date_time import read_date_time
from devices.gatt.ieee11073 import MedFloat
from devices.model import Quality, Reading
from devices.units import kpa_to_mmhg

UUID_SERVICE = 0x1810
UUID_MEASUREMENT = 0x2A35
UUID_INTERMEDIATE_CUFF = 0x2A36
UUID_FEATURE = 0x2A49


class BpStatus(IntFlag):
    BODY_MOVEMENT = 1 << 0
    CUFF_TOO_LOOSE = 1 << 1
    IRREGULAR_PULSE = 1 << 2
    PULSE_RATE_ABOVE_RANGE = 1 << 3
    PULSE_RATE_BELOW_RANGE = 1 << 4
    IMPROPER_POSITION = 1 << 5


@dataclass(frozen=True, slots=True)
class BloodPressureMeasurement:
    """flags | systolic | diastolic | MAP | [timestamp] | [pulse rate] | [user id] | [status u16]."""

    systolic: MedFloat
    diastolic: MedFloat
    mean_arterial: MedFloat
    kpa: bool = False
    timestamp: datetime | None = None
    has_timestamp: bool = False
    pulse_rate: MedFloat | None = None
    user_id: int | None = None
    status: BpStatus | None = None

    @classmethod
    def from_bytes(cls, data: bytes) -> BloodPressureMeasurement:
        r = Reader(data, "Blood Pressure Measurement")
        flags = r.u8("flags")
        sys_, dia, mean = r.sfloat("systolic"), r.sfloat("diastolic"), r.sfloat("mean arterial")
        has_ts = bool(flags & 0x02)
        ts = read_date_time(r, "timestamp") if has_ts else None
        pr = r.sfloat("pulse rate") if flags & 0x04 else None
        user = r.u8("user id") if flags & 0x08 else None
        raw_status = r.u16("measurement status") if flags & 0x10 else None
        r.done()
        status = None
        if raw_status is not None:
            if (raw_status >> 3) & 0x3 == 0x3:
                raise r.fail("pulse-rate range bits 11 are reserved")
            status = BpStatus(raw_status & 0x3F)
        return cls(sys_, dia, mean, bool(flags & 0x01), ts, has_ts, pr, user, status)

    def __bytes__(self) -> bytes:
        has_ts = self.has_timestamp or self.timestamp is not None
        flags = (0x01 if self.kpa else 0) | (0x02 if has_ts else 0)
        flags |= 0x04 if self.pulse_rate is not None else 0
        flags |= 0x08 if self.user_id is not None else 0
        flags |= 0x10 if self.status is not None else 0
        w = Writer().u8(flags).sfloat(self.systolic).sfloat(self.diastolic).sfloat(self.mean_arterial)
        if has_ts:
            w.date_time(self.timestamp)
        if self.pulse_rate is not None:
            w.sfloat(self.pulse_rate)
        if self.user_id is not None:
            w.u8(self.user_id)
        if self.status is not None:
            w.u16(int(self.status))
        return bytes(w)

    def _mmhg(self, value: MedFloat) -> float | None:
        d = value.decimal
        if d is None:
            return None
        return float(kpa_to_mmhg(d) if self.kpa else d)

    def readings(self) -> list[Reading]:
        quality = Quality.DEVICE_FLAGGED if self.status else 0
        if self.has_timestamp and self.timestamp is None:  # sent, but "not known"
            quality |= Quality.CLOCK_UNCERTAIN
        out = []
        for metric, field in (("systolic_bp", self.systolic), ("diastolic_bp", self.diastolic),
                              ("mean_arterial_pressure", self.mean_arterial)):
            value = self._mmhg(field)
            if value is not None:
                out.append(Reading(metric=metric, value=value, unit="mm[Hg]",
                                   device_time=self.timestamp, quality=int(quality)))
        if self.pulse_rate is not None and self.pulse_rate.value is not None:
            out.append(Reading(metric="pulse_rate", value=self.pulse_rate.value, unit="/min",
                               device_time=self.timestamp, quality=int(quality)))
        return out


@dataclass(frozen=True, slots=True)
class BloodPressureFeature:
    features: int

    @classmethod
    def from_bytes(cls, data: bytes) -> BloodPressureFeature:
        r = Reader(data, "Blood Pressure Feature")
        features = r.u16("features")
        r.done()
        return cls(features)

    def __bytes__(self) -> bytes:
        return bytes(Writer().u16(self.features))

    def readings(self) -> list[Reading]:
        return []
