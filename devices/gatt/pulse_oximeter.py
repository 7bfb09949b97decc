"""Pulse Oximeter Service 0x1822: PLX Spot-check 0x2A5E, PLX Continuous 0x2A5F, PLX Features
0x2A60 (``shared/ble-profiles.md`` §5)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntFlag

from devices.gatt._codec import Reader, Writer
from devices.gatt.date_time import read_date_time
from devices.gatt.ieee11073 import MedFloat
from devices.model import Quality, Reading

UUID_SERVICE = 0x1822
UUID_SPOT_CHECK = 0x2A5E
UUID_CONTINUOUS = 0x2A5F
UUID_FEATURES = 0x2A60


class MeasurementStatus(IntFlag):
    ONGOING = 1 << 5
    EARLY_ESTIMATE = 1 << 6
    VALIDATED = 1 << 7
    FULLY_QUALIFIED = 1 << 8
    FROM_STORAGE = 1 << 9
    DEMONSTRATION = 1 << 10
    TESTING = 1 << 11
    CALIBRATION_ONGOING = 1 << 12
    UNAVAILABLE = 1 << 13
    QUESTIONABLE = 1 << 14
    INVALID = 1 << 15


class DeviceSensorStatus(IntFlag):
    EXTENDED_DISPLAY_UPDATE = 1 << 0
    EQUIPMENT_MALFUNCTION = 1 << 1
    SIGNAL_PROCESSING_IRREGULARITY = 1 << 2
    INADEQUATE_SIGNAL = 1 << 3
    POOR_SIGNAL = 1 << 4
    LOW_PERFUSION = 1 << 5
    ERRATIC_SIGNAL = 1 << 6
    NONPULSATILE_SIGNAL = 1 << 7
    QUESTIONABLE_PULSE = 1 << 8
    SIGNAL_ANALYSIS_ONGOING = 1 << 9
    SENSOR_INTERFERENCE = 1 << 10
    SENSOR_UNCONNECTED = 1 << 11
    UNKNOWN_SENSOR = 1 << 12
    SENSOR_DISPLACED = 1 << 13
    SENSOR_MALFUNCTIONING = 1 << 14
    SENSOR_DISCONNECTED = 1 << 15


_BAD_MEASUREMENT = (MeasurementStatus.INVALID | MeasurementStatus.QUESTIONABLE
                    | MeasurementStatus.UNAVAILABLE | MeasurementStatus.DEMONSTRATION
                    | MeasurementStatus.TESTING)
_BAD_SENSOR = (DeviceSensorStatus.EQUIPMENT_MALFUNCTION | DeviceSensorStatus.INADEQUATE_SIGNAL
               | DeviceSensorStatus.ERRATIC_SIGNAL | DeviceSensorStatus.SENSOR_MALFUNCTIONING
               | DeviceSensorStatus.QUESTIONABLE_PULSE | DeviceSensorStatus.SENSOR_DISPLACED)
_NO_CONTACT = DeviceSensorStatus.SENSOR_UNCONNECTED | DeviceSensorStatus.SENSOR_DISCONNECTED


def _quality(measurement: MeasurementStatus | None, sensor: DeviceSensorStatus | None) -> int:
    q = 0
    if measurement is not None and measurement & _BAD_MEASUREMENT:
        q |= Quality.DEVICE_FLAGGED
    if measurement is not None and measurement & MeasurementStatus.FROM_STORAGE:
        q |= Quality.BACKFILLED
    if sensor is not None and sensor & _BAD_SENSOR:
        q |= Quality.DEVICE_FLAGGED
    if sensor is not None and sensor & _NO_CONTACT:
        q |= Quality.SENSOR_CONTACT_LOST
    return q


def _read_statuses(r: Reader, flags: int, measurement_bit: int, device_bit: int,
                   ) -> tuple[MeasurementStatus | None, DeviceSensorStatus | None]:
    """The optional measurement-status (u16) and device-and-sensor-status (u24) fields."""
    ms = MeasurementStatus(r.u16("measurement status") & 0xFFE0) if flags & measurement_bit \
        else None
    ds = DeviceSensorStatus(r.u24("device and sensor status") & 0xFFFF) if flags & device_bit \
        else None
    return ms, ds


def _write_statuses(w: Writer, ms: MeasurementStatus | None,
                    ds: DeviceSensorStatus | None) -> None:
    if ms is not None:
        w.u16(int(ms))
    if ds is not None:
        w.u24(int(ds))


def _pair(spo2: MedFloat, pr: MedFloat, quality: int, time: datetime | None = None) -> list[Reading]:
    out = []
    if spo2.value is not None:
        out.append(Reading(metric="spo2", value=spo2.value, unit="%", device_time=time,
                           quality=quality))
    if pr.value is not None:
        out.append(Reading(metric="pulse_rate", value=pr.value, unit="/min", device_time=time,
                           quality=quality))
    return out


@dataclass(frozen=True, slots=True)
class PlxSpotCheck:
    """flags | SpO2 | PR | [timestamp] | [measurement status u16] | [device/sensor status u24] | [PAI]."""

    spo2: MedFloat
    pulse_rate: MedFloat
    timestamp: datetime | None = None
    has_timestamp: bool = False
    measurement_status: MeasurementStatus | None = None
    device_status: DeviceSensorStatus | None = None
    pulse_amplitude_index: MedFloat | None = None
    clock_not_set: bool = False

    @classmethod
    def from_bytes(cls, data: bytes) -> PlxSpotCheck:
        r = Reader(data, "PLX Spot-check Measurement")
        flags = r.u8("flags")
        spo2, pr = r.sfloat("SpO2"), r.sfloat("pulse rate")
        has_ts = bool(flags & 0x01)
        ts = read_date_time(r, "timestamp") if has_ts else None
        ms, ds = _read_statuses(r, flags, 0x02, 0x04)
        pai = r.sfloat("pulse amplitude index") if flags & 0x08 else None
        r.done()
        return cls(spo2, pr, ts, has_ts, ms, ds, pai, bool(flags & 0x10))

    def __bytes__(self) -> bytes:
        has_ts = self.has_timestamp or self.timestamp is not None
        flags = (0x01 if has_ts else 0) | (0x02 if self.measurement_status is not None else 0)
        flags |= 0x04 if self.device_status is not None else 0
        flags |= 0x08 if self.pulse_amplitude_index is not None else 0
        flags |= 0x10 if self.clock_not_set else 0
        w = Writer().u8(flags).sfloat(self.spo2).sfloat(self.pulse_rate)
        if has_ts:
            w.date_time(self.timestamp)
        _write_statuses(w, self.measurement_status, self.device_status)
        if self.pulse_amplitude_index is not None:
            w.sfloat(self.pulse_amplitude_index)
        return bytes(w)

    def readings(self) -> list[Reading]:
        quality = _quality(self.measurement_status, self.device_status)
        if self.clock_not_set or (self.has_timestamp and self.timestamp is None):
            quality |= Quality.CLOCK_UNCERTAIN
        time = None if self.clock_not_set else self.timestamp
        return _pair(self.spo2, self.pulse_rate, quality, time)


@dataclass(frozen=True, slots=True)
class PlxContinuous:
    """flags | SpO2 | PR | [fast pair] | [slow pair] | [measurement status] | [device status] | [PAI]."""

    spo2: MedFloat
    pulse_rate: MedFloat
    fast: tuple[MedFloat, MedFloat] | None = None
    slow: tuple[MedFloat, MedFloat] | None = None
    measurement_status: MeasurementStatus | None = None
    device_status: DeviceSensorStatus | None = None
    pulse_amplitude_index: MedFloat | None = None

    @classmethod
    def from_bytes(cls, data: bytes) -> PlxContinuous:
        r = Reader(data, "PLX Continuous Measurement")
        flags = r.u8("flags")
        spo2, pr = r.sfloat("SpO2 (normal)"), r.sfloat("pulse rate (normal)")
        fast = (r.sfloat("SpO2 (fast)"), r.sfloat("pulse rate (fast)")) if flags & 0x01 else None
        slow = (r.sfloat("SpO2 (slow)"), r.sfloat("pulse rate (slow)")) if flags & 0x02 else None
        ms, ds = _read_statuses(r, flags, 0x04, 0x08)
        pai = r.sfloat("pulse amplitude index") if flags & 0x10 else None
        r.done()
        return cls(spo2, pr, fast, slow, ms, ds, pai)

    def __bytes__(self) -> bytes:
        flags = (0x01 if self.fast else 0) | (0x02 if self.slow else 0)
        flags |= 0x04 if self.measurement_status is not None else 0
        flags |= 0x08 if self.device_status is not None else 0
        flags |= 0x10 if self.pulse_amplitude_index is not None else 0
        w = Writer().u8(flags).sfloat(self.spo2).sfloat(self.pulse_rate)
        for pair in (self.fast, self.slow):
            if pair:
                w.sfloat(pair[0]).sfloat(pair[1])
        _write_statuses(w, self.measurement_status, self.device_status)
        if self.pulse_amplitude_index is not None:
            w.sfloat(self.pulse_amplitude_index)
        return bytes(w)

    def readings(self) -> list[Reading]:
        """The normal-averaging pair (fast/slow variants stay in fields)."""
        return _pair(self.spo2, self.pulse_rate,
                     _quality(self.measurement_status, self.device_status))


@dataclass(frozen=True, slots=True)
class PlxFeatures:
    """supported features u16 | [measurement status support u16] | [device status support u24]."""

    features: int
    measurement_status_support: int | None = None
    device_status_support: int | None = None

    @classmethod
    def from_bytes(cls, data: bytes) -> PlxFeatures:
        r = Reader(data, "PLX Features")
        features = r.u16("supported features")
        ms = r.u16("measurement status support") if features & 0x01 else None
        ds = r.u24("device and sensor status support") if features & 0x02 else None
        r.done()
        return cls(features, ms, ds)

    def __bytes__(self) -> bytes:
        w = Writer().u16(self.features)
        if self.features & 0x01:
            w.u16(self.measurement_status_support or 0)
        if self.features & 0x02:
            w.u24(self.device_status_support or 0)
        return bytes(w)

    def readings(self) -> list[Reading]:
        return []
