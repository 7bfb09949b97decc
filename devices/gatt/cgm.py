"""Continuous Glucose Monitoring Service 0x181F (``shared/ble-profiles.md`` §4).

CGM Measurement 0x2AA7 (one or more records per notification), CGM Feature 0x2AA8,
CGM Status 0x2AA9, Session Start Time 0x2AAA, Session Run Time 0x2AAB and the CGM
Specific Ops Control Point 0x2AAC. E2E-CRC (CRC-16/MCRF4XX, little-endian) is checked
whenever present; ``crc`` = True (CGM Feature bit 12 set) makes it mandatory and False
forbids it; None infers it from the length, which is unambiguous for every value here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum, IntFlag

from devices.errors import DecodeError
from devices.gatt._codec import Reader, Writer
from devices.gatt.crc import crc16_mcrf4xx
from devices.gatt.date_time import read_date_time, read_dst_offset, read_time_zone
from devices.gatt.ieee11073 import MedFloat
from devices.model import Quality, Reading, Specimen

UUID_SERVICE = 0x181F
UUID_MEASUREMENT = 0x2AA7
UUID_FEATURE = 0x2AA8
UUID_STATUS = 0x2AA9
UUID_SESSION_START_TIME = 0x2AAA
UUID_SESSION_RUN_TIME = 0x2AAB
UUID_SOCP = 0x2AAC


class Annunciation(IntFlag):
    """24-bit sensor status annunciation: Status (0-7), Cal/Temp (8-15), Warning (16-23)."""

    SESSION_STOPPED = 1 << 0
    DEVICE_BATTERY_LOW = 1 << 1
    SENSOR_TYPE_INCORRECT = 1 << 2
    SENSOR_MALFUNCTION = 1 << 3
    DEVICE_SPECIFIC_ALERT = 1 << 4
    GENERAL_DEVICE_FAULT = 1 << 5
    TIME_SYNC_REQUIRED = 1 << 8
    CALIBRATION_NOT_ALLOWED = 1 << 9
    CALIBRATION_RECOMMENDED = 1 << 10
    CALIBRATION_REQUIRED = 1 << 11
    TEMPERATURE_TOO_HIGH = 1 << 12
    TEMPERATURE_TOO_LOW = 1 << 13
    CALIBRATION_PENDING = 1 << 14
    BELOW_PATIENT_LOW = 1 << 16
    ABOVE_PATIENT_HIGH = 1 << 17
    BELOW_HYPO = 1 << 18
    ABOVE_HYPER = 1 << 19
    RATE_OF_DECREASE_EXCEEDED = 1 << 20
    RATE_OF_INCREASE_EXCEEDED = 1 << 21
    BELOW_DEVICE_RANGE = 1 << 22
    ABOVE_DEVICE_RANGE = 1 << 23


_UNRELIABLE = (Annunciation.SENSOR_MALFUNCTION | Annunciation.SENSOR_TYPE_INCORRECT
               | Annunciation.GENERAL_DEVICE_FAULT | Annunciation.TEMPERATURE_TOO_HIGH
               | Annunciation.TEMPERATURE_TOO_LOW | Annunciation.SESSION_STOPPED)
_CALIBRATION = (Annunciation.CALIBRATION_REQUIRED | Annunciation.CALIBRATION_PENDING
                | Annunciation.TIME_SYNC_REQUIRED)


def _check_crc(r: Reader, start: int, crc: bool | None, what: str) -> bool:
    """Read and verify a trailing E2E-CRC over bytes [start, here); True if one was present."""
    if r.remaining == 0:
        if crc:
            raise DecodeError(f"{what}: E2E-CRC is supported but missing", reason="missing_crc")
        return False
    if crc is False:
        return False  # leave the bytes: done() reports them as trailing
    covered = r.consumed(start)
    sent = r.u16("E2E-CRC")
    computed = crc16_mcrf4xx(covered)
    if sent != computed:
        raise DecodeError(f"{what}: E2E-CRC mismatch (sent 0x{sent:04X}, computed 0x{computed:04X})",
                          reason="bad_crc")
    return True


def _with_crc(body: bytes, crc: bool) -> bytes:
    if not crc:
        return body
    return body + crc16_mcrf4xx(body).to_bytes(2, "little")


@dataclass(frozen=True, slots=True)
class CgmRecord:
    """One CGM measurement record."""

    glucose: MedFloat  # mg/dL
    time_offset_min: int  # minutes since session start; the RACP record key
    status: int | None = None  # octet, bits 0-7 of the annunciation
    cal_temp: int | None = None  # octet, bits 8-15
    warning: int | None = None  # octet, bits 16-23
    trend: MedFloat | None = None  # (mg/dL)/min
    quality: MedFloat | None = None  # %
    has_crc: bool = False

    @property
    def annunciation(self) -> Annunciation:
        return Annunciation((self.status or 0) | ((self.cal_temp or 0) << 8)
                            | ((self.warning or 0) << 16))

    def encode(self) -> bytes:
        flags = (0x01 if self.trend is not None else 0) | (0x02 if self.quality is not None else 0)
        flags |= 0x20 if self.warning is not None else 0
        flags |= 0x40 if self.cal_temp is not None else 0
        flags |= 0x80 if self.status is not None else 0
        body = Writer().u8(flags).sfloat(self.glucose).u16(self.time_offset_min)
        for octet in (self.status, self.cal_temp, self.warning):  # GSS order
            if octet is not None:
                body.u8(octet)
        if self.trend is not None:
            body.sfloat(self.trend)
        if self.quality is not None:
            body.sfloat(self.quality)
        payload = bytes(body)
        size = 1 + len(payload) + (2 if self.has_crc else 0)
        return _with_crc(bytes([size]) + payload, self.has_crc)


def _read_record(r: Reader, crc: bool | None, index: int) -> CgmRecord:
    start = r.position
    size = r.u8(f"record {index} size")
    flags = r.u8(f"record {index} flags")
    octets = sum(1 for bit in (0x20, 0x40, 0x80) if flags & bit)
    base = 6 + (2 if flags & 0x01 else 0) + (2 if flags & 0x02 else 0) + octets
    if size not in (base, base + 2):
        raise r.fail(f"record {index} size {size} does not match its flags (expected {base} or "
                     f"{base + 2} with CRC)")
    if size == base and crc:
        raise DecodeError(f"CGM Measurement record {index}: E2E-CRC is supported but missing",
                          reason="missing_crc")
    if size == base + 2 and crc is False:
        raise r.fail(f"record {index} carries a CRC but the sensor does not support E2E-CRC")
    if r.remaining < size - 2:
        raise DecodeError(f"CGM Measurement: truncated record {index}: size says {size} bytes, "
                          f"{r.remaining + 2} left", reason="truncated")
    glucose = r.sfloat(f"record {index} glucose")
    offset = r.u16(f"record {index} time offset")
    status = r.u8(f"record {index} status octet") if flags & 0x80 else None
    cal_temp = r.u8(f"record {index} cal/temp octet") if flags & 0x40 else None
    warning = r.u8(f"record {index} warning octet") if flags & 0x20 else None
    trend = r.sfloat(f"record {index} trend") if flags & 0x01 else None
    quality = r.sfloat(f"record {index} quality") if flags & 0x02 else None
    has_crc = False
    if size == base + 2:
        covered = r.consumed(start)
        sent = r.u16(f"record {index} E2E-CRC")
        computed = crc16_mcrf4xx(covered)
        if sent != computed:
            raise DecodeError(f"CGM Measurement record {index}: E2E-CRC mismatch (sent 0x{sent:04X}, "
                              f"computed 0x{computed:04X})", reason="bad_crc")
        has_crc = True
    return CgmRecord(glucose, offset, status, cal_temp, warning, trend, quality, has_crc)


@dataclass(frozen=True, slots=True)
class CgmMeasurement:
    """A CGM Measurement notification: one or more records back to back."""

    records: tuple[CgmRecord, ...]

    @classmethod
    def from_bytes(cls, data: bytes, *, crc: bool | None = None) -> CgmMeasurement:
        r = Reader(data, "CGM Measurement")
        records: list[CgmRecord] = []
        while r.remaining or not records:
            records.append(_read_record(r, crc, len(records)))
        r.done()
        return cls(tuple(records))

    def __bytes__(self) -> bytes:
        return b"".join(rec.encode() for rec in self.records)

    def readings(self, session_start: datetime | None = None) -> list[Reading]:
        """Interstitial glucose in mg/dL per record with a numeric value, keyed by time offset."""
        out = []
        for rec in self.records:
            value = rec.glucose.value
            if value is None:
                continue
            quality = 0
            ann = rec.annunciation
            if ann & _UNRELIABLE:
                quality |= Quality.DEVICE_FLAGGED
            if ann & _CALIBRATION:
                quality |= Quality.CALIBRATION
            if ann & (Annunciation.BELOW_DEVICE_RANGE | Annunciation.ABOVE_DEVICE_RANGE):
                quality |= Quality.OUT_OF_RANGE_DEVICE
            device_time = (session_start + timedelta(minutes=rec.time_offset_min)
                           if session_start is not None else None)
            out.append(Reading(metric="glucose", value=value, unit="mg/dL",
                               device_time=device_time, record=rec.time_offset_min,
                               specimen=Specimen.INTERSTITIAL_FLUID, quality=quality))
        return out


class CgmFeatureBits(IntFlag):
    CALIBRATION = 1 << 0
    PATIENT_HIGH_LOW_ALERTS = 1 << 1
    HYPO_ALERTS = 1 << 2
    HYPER_ALERTS = 1 << 3
    RATE_ALERTS = 1 << 4
    DEVICE_SPECIFIC_ALERT = 1 << 5
    MALFUNCTION_DETECTION = 1 << 6
    TEMPERATURE_DETECTION = 1 << 7
    RESULT_HIGH_LOW_DETECTION = 1 << 8
    LOW_BATTERY_DETECTION = 1 << 9
    SENSOR_TYPE_ERROR_DETECTION = 1 << 10
    GENERAL_DEVICE_FAULT = 1 << 11
    E2E_CRC = 1 << 12
    MULTIPLE_BOND = 1 << 13
    MULTIPLE_SESSIONS = 1 << 14
    TREND = 1 << 15
    QUALITY = 1 << 16


@dataclass(frozen=True, slots=True)
class CgmFeature:
    """features u24 | type (low nibble) / sample location (high nibble) | CRC (0xFFFF if unused)."""

    features: CgmFeatureBits
    sample_type: int = 9  # ISF
    sample_location: int = 5  # subcutaneous tissue

    @property
    def e2e_crc(self) -> bool:
        return bool(self.features & CgmFeatureBits.E2E_CRC)

    @classmethod
    def from_bytes(cls, data: bytes) -> CgmFeature:
        r = Reader(data, "CGM Feature")
        features = CgmFeatureBits(r.u24("features") & 0x1FFFF)
        packed = r.u8("type/sample location")
        covered = r.consumed()
        sent = r.u16("E2E-CRC")
        r.done()
        if features & CgmFeatureBits.E2E_CRC:
            computed = crc16_mcrf4xx(covered)
            if sent != computed:
                raise DecodeError(f"CGM Feature: E2E-CRC mismatch (sent 0x{sent:04X}, computed "
                                  f"0x{computed:04X})", reason="bad_crc")
        elif sent != 0xFFFF:
            raise DecodeError(f"CGM Feature: CRC field must be 0xFFFF without E2E-CRC support, "
                              f"got 0x{sent:04X}", reason="inconsistent")
        return cls(features, packed & 0x0F, packed >> 4)

    def __bytes__(self) -> bytes:
        body = bytes(Writer().u24(int(self.features))
                     .u8((self.sample_location << 4) | self.sample_type))
        crc = crc16_mcrf4xx(body) if self.e2e_crc else 0xFFFF
        return body + crc.to_bytes(2, "little")

    def readings(self) -> list[Reading]:
        return []


@dataclass(frozen=True, slots=True)
class CgmStatus:
    time_offset_min: int
    annunciation: Annunciation
    has_crc: bool = False

    @classmethod
    def from_bytes(cls, data: bytes, *, crc: bool | None = None) -> CgmStatus:
        r = Reader(data, "CGM Status")
        offset = r.u16("time offset")
        status = Annunciation(r.u24("status") & 0xFF7F3F)
        has_crc = _check_crc(r, 0, crc, "CGM Status")
        r.done()
        return cls(offset, status, has_crc)

    def __bytes__(self) -> bytes:
        return _with_crc(bytes(Writer().u16(self.time_offset_min).u24(int(self.annunciation))),
                         self.has_crc)

    def readings(self) -> list[Reading]:
        return []


@dataclass(frozen=True, slots=True)
class SessionStartTime:
    """Local start time with its zone (minutes, None = unknown) and DST offset (minutes)."""

    start: datetime | None
    time_zone_min: int | None
    dst_offset_min: int | None
    has_crc: bool = False

    @property
    def start_utc(self) -> datetime | None:
        """Start in UTC when zone and DST are known (zone excludes DST)."""
        if self.start is None or self.time_zone_min is None or self.dst_offset_min is None:
            return None
        from datetime import UTC

        offset = timedelta(minutes=self.time_zone_min + self.dst_offset_min)
        return (self.start - offset).replace(tzinfo=UTC)

    @classmethod
    def from_bytes(cls, data: bytes, *, crc: bool | None = None) -> SessionStartTime:
        r = Reader(data, "CGM Session Start Time")
        start = read_date_time(r, "session start time")
        zone = read_time_zone(r)
        dst = read_dst_offset(r)
        has_crc = _check_crc(r, 0, crc, "CGM Session Start Time")
        r.done()
        return cls(start, zone, dst, has_crc)

    def __bytes__(self) -> bytes:
        zone = -128 if self.time_zone_min is None else self.time_zone_min // 15
        dst = 255 if self.dst_offset_min is None else self.dst_offset_min // 15
        return _with_crc(bytes(Writer().date_time(self.start).s8(zone).u8(dst)), self.has_crc)

    def readings(self) -> list[Reading]:
        return []


@dataclass(frozen=True, slots=True)
class SessionRunTime:
    hours: int
    has_crc: bool = False

    @classmethod
    def from_bytes(cls, data: bytes, *, crc: bool | None = None) -> SessionRunTime:
        r = Reader(data, "CGM Session Run Time")
        hours = r.u16("run time hours")
        has_crc = _check_crc(r, 0, crc, "CGM Session Run Time")
        r.done()
        return cls(hours, has_crc)

    def __bytes__(self) -> bytes:
        return _with_crc(bytes(Writer().u16(self.hours)), self.has_crc)

    def readings(self) -> list[Reading]:
        return []


class SocpOp(IntEnum):
    SET_INTERVAL = 0x01
    GET_INTERVAL = 0x02
    INTERVAL_RESPONSE = 0x03
    SET_CALIBRATION = 0x04
    GET_CALIBRATION = 0x05
    CALIBRATION_RESPONSE = 0x06
    SET_PATIENT_HIGH = 0x07
    GET_PATIENT_HIGH = 0x08
    PATIENT_HIGH_RESPONSE = 0x09
    SET_PATIENT_LOW = 0x0A
    GET_PATIENT_LOW = 0x0B
    PATIENT_LOW_RESPONSE = 0x0C
    SET_HYPO = 0x0D
    GET_HYPO = 0x0E
    HYPO_RESPONSE = 0x0F
    SET_HYPER = 0x10
    GET_HYPER = 0x11
    HYPER_RESPONSE = 0x12
    SET_RATE_OF_DECREASE = 0x13
    GET_RATE_OF_DECREASE = 0x14
    RATE_OF_DECREASE_RESPONSE = 0x15
    SET_RATE_OF_INCREASE = 0x16
    GET_RATE_OF_INCREASE = 0x17
    RATE_OF_INCREASE_RESPONSE = 0x18
    RESET_DEVICE_SPECIFIC_ALERT = 0x19
    START_SESSION = 0x1A
    STOP_SESSION = 0x1B
    RESPONSE_CODE = 0x1C


class SocpResponseCode(IntEnum):
    SUCCESS = 1
    OP_CODE_NOT_SUPPORTED = 2
    INVALID_OPERAND = 3
    PROCEDURE_NOT_COMPLETED = 4
    PARAMETER_OUT_OF_RANGE = 5


_SFLOAT_OPS = {SocpOp.SET_PATIENT_HIGH, SocpOp.PATIENT_HIGH_RESPONSE, SocpOp.SET_PATIENT_LOW,
               SocpOp.PATIENT_LOW_RESPONSE, SocpOp.SET_HYPO, SocpOp.HYPO_RESPONSE,
               SocpOp.SET_HYPER, SocpOp.HYPER_RESPONSE, SocpOp.SET_RATE_OF_DECREASE,
               SocpOp.RATE_OF_DECREASE_RESPONSE, SocpOp.SET_RATE_OF_INCREASE,
               SocpOp.RATE_OF_INCREASE_RESPONSE}
_CALIBRATION_OPS = {SocpOp.SET_CALIBRATION, SocpOp.CALIBRATION_RESPONSE}


@dataclass(frozen=True, slots=True)
class CalibrationRecord:
    glucose: MedFloat  # mg/dL
    time_min: int
    sample_type: int
    sample_location: int
    next_calibration_min: int
    record_number: int
    status: int


@dataclass(frozen=True, slots=True)
class SpecificOpsControlPoint:
    """op code | operand (shape fixed by the op code) | [CRC]."""

    op: SocpOp
    interval_min: int | None = None
    level: MedFloat | None = None
    calibration: CalibrationRecord | None = None
    record_number: int | None = None
    request_op: int | None = None
    response: SocpResponseCode | None = None
    has_crc: bool = False

    @classmethod
    def from_bytes(cls, data: bytes, *, crc: bool | None = None) -> SpecificOpsControlPoint:
        r = Reader(data, "CGM Specific Ops Control Point")
        raw = r.u8("op code")
        try:
            op = SocpOp(raw)
        except ValueError:
            raise r.fail(f"op code 0x{raw:02X} is not defined", "unsupported") from None
        kw: dict[str, object] = {}
        if op in (SocpOp.SET_INTERVAL, SocpOp.INTERVAL_RESPONSE):
            kw["interval_min"] = r.u8("communication interval")
        elif op in _SFLOAT_OPS:
            kw["level"] = r.sfloat("level")
        elif op in _CALIBRATION_OPS:
            packed = None
            glucose = r.sfloat("calibration glucose")
            time_min = r.u16("calibration time")
            packed = r.u8("calibration type/location")
            kw["calibration"] = CalibrationRecord(
                glucose, time_min, packed & 0x0F, packed >> 4, r.u16("next calibration time"),
                r.u16("calibration record number"), r.u8("calibration status"))
        elif op == SocpOp.GET_CALIBRATION:
            kw["record_number"] = r.u16("calibration record number")
        elif op == SocpOp.RESPONSE_CODE:
            kw["request_op"] = r.u8("request op code")
            code = r.u8("response code")
            try:
                kw["response"] = SocpResponseCode(code)
            except ValueError:
                raise r.fail(f"response code {code} is not defined", "unsupported") from None
        has_crc = _check_crc(r, 0, crc, "CGM Specific Ops Control Point")
        r.done()
        return cls(op, has_crc=has_crc, **kw)  # type: ignore[arg-type]

    def __bytes__(self) -> bytes:
        w = Writer().u8(int(self.op))
        if self.op in (SocpOp.SET_INTERVAL, SocpOp.INTERVAL_RESPONSE):
            w.u8(self.interval_min or 0)
        elif self.op in _SFLOAT_OPS:
            w.sfloat(self.level or MedFloat(0, 0))
        elif self.op in _CALIBRATION_OPS:
            c = self.calibration
            assert c is not None
            w.sfloat(c.glucose).u16(c.time_min).u8((c.sample_location << 4) | c.sample_type)
            w.u16(c.next_calibration_min).u16(c.record_number).u8(c.status)
        elif self.op == SocpOp.GET_CALIBRATION:
            w.u16(self.record_number or 0)
        elif self.op == SocpOp.RESPONSE_CODE:
            w.u8(self.request_op or 0).u8(int(self.response or 0))
        return _with_crc(bytes(w), self.has_crc)

    def readings(self) -> list[Reading]:
        return []
