"""Polar Measurement Data (PMD): control point commands/responses and ECG data frames
(Polar-H10-like raw ECG; ``shared/ble-profiles.md`` §7). There is no SIG ECG profile.

Data frame: type | timestamp u64 (ns since 2000-01-01, of the *last* sample) | frame type |
samples. ECG frame type 0: signed 24-bit µV samples. Other frame types and compressed
frames are rejected rather than guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum

from devices.errors import DecodeError
from devices.gatt._codec import Reader, Writer
from devices.model import Reading, SegmentSamples

UUID_SERVICE = "fb005c80-02e7-f387-1cad-8acd2d8df0c8"
UUID_CONTROL_POINT = "fb005c81-02e7-f387-1cad-8acd2d8df0c8"
UUID_DATA = "fb005c82-02e7-f387-1cad-8acd2d8df0c8"

POLAR_EPOCH = datetime(2000, 1, 1)  # noqa: DTZ001 - sensor clock base, UTC unless set local
DEFAULT_ECG_RATE_HZ = 130.0
ECG_LEAD = "I"  # chest strap: a single lead, approximately lead I


class MeasurementType(IntEnum):
    ECG = 0
    PPG = 1
    ACC = 2
    PPI = 3
    GYRO = 5
    MAGNETOMETER = 6
    SKIN_TEMPERATURE = 7
    SDK_MODE = 9
    LOCATION = 10
    PRESSURE = 11
    TEMPERATURE = 12
    OFFLINE_RECORDING = 13
    OFFLINE_HR = 14


class PmdOp(IntEnum):
    GET_SETTINGS = 0x01
    START = 0x02
    STOP = 0x03
    GET_SDK_MODE_SETTINGS = 0x04
    GET_STATUS = 0x05


class SettingType(IntEnum):
    SAMPLE_RATE = 0
    RESOLUTION = 1
    RANGE = 2
    RANGE_MILLIUNIT = 3
    CHANNELS = 4
    FACTOR = 5
    SECURITY = 6


class PmdStatus(IntEnum):
    SUCCESS = 0
    INVALID_OP_CODE = 1
    INVALID_MEASUREMENT_TYPE = 2
    NOT_SUPPORTED = 3
    INVALID_LENGTH = 4
    INVALID_PARAMETER = 5
    ALREADY_IN_STATE = 6
    INVALID_RESOLUTION = 7
    INVALID_SAMPLE_RATE = 8
    INVALID_RANGE = 9
    INVALID_MTU = 10
    INVALID_NUMBER_OF_CHANNELS = 11
    INVALID_STATE = 12
    DEVICE_IN_CHARGER = 13
    DISK_FULL = 14


_SETTING_SIZE = {SettingType.SAMPLE_RATE: 2, SettingType.RESOLUTION: 2, SettingType.RANGE: 2,
                 SettingType.RANGE_MILLIUNIT: 4, SettingType.CHANNELS: 1, SettingType.FACTOR: 4,
                 SettingType.SECURITY: 16}

Settings = dict[SettingType, tuple[int | float | bytes, ...]]


def _read_settings(r: Reader) -> Settings:
    settings: Settings = {}
    while r.remaining:
        raw = r.u8("setting type")
        try:
            kind = SettingType(raw)
        except ValueError:
            raise r.fail(f"setting type {raw} is not defined", "unsupported") from None
        if kind in settings:
            raise r.fail(f"setting {kind.name.lower()} appears twice")
        count = r.u8(f"{kind.name.lower()} count")
        if count == 0:
            raise r.fail(f"setting {kind.name.lower()} has a count of 0")
        values: list[int | float | bytes] = []
        for i in range(count):
            field = f"{kind.name.lower()} value {i}"
            if kind == SettingType.FACTOR:
                values.append(r.f32(field))
            elif kind == SettingType.SECURITY:
                values.append(r.take(16, field))
            elif _SETTING_SIZE[kind] == 4:
                values.append(r.u32(field))
            elif _SETTING_SIZE[kind] == 2:
                values.append(r.u16(field))
            else:
                values.append(r.u8(field))
        settings[kind] = tuple(values)
    return settings


def _write_settings(w: Writer, settings: Settings) -> None:
    for kind, values in settings.items():
        w.u8(int(kind)).u8(len(values))
        for value in values:
            if kind == SettingType.FACTOR:
                w.f32(float(value))
            elif kind == SettingType.SECURITY:
                w.raw(value if isinstance(value, bytes) else bytes(int(value)))
            elif _SETTING_SIZE[kind] == 4:
                w.u32(int(value))
            elif _SETTING_SIZE[kind] == 2:
                w.u16(int(value))
            else:
                w.u8(int(value))


def _measurement_type(r: Reader, raw: int) -> MeasurementType:
    try:
        return MeasurementType(raw & 0x3F)
    except ValueError:
        raise r.fail(f"measurement type {raw & 0x3F} is not defined", "unsupported") from None


@dataclass(frozen=True, slots=True)
class PmdCommand:
    """A control-point write: ``op | type | [settings]``."""

    op: PmdOp
    measurement: MeasurementType
    settings: Settings | None = None

    @classmethod
    def from_bytes(cls, data: bytes) -> PmdCommand:
        r = Reader(data, "PMD control point command")
        raw = r.u8("op code")
        try:
            op = PmdOp(raw)
        except ValueError:
            raise r.fail(f"op code 0x{raw:02X} is not a PMD command", "unsupported") from None
        measurement = _measurement_type(r, r.u8("measurement type"))
        settings = _read_settings(r) if op == PmdOp.START else None
        r.done()
        if op == PmdOp.START and not settings:
            raise r.fail("start command carries no settings")
        return cls(op, measurement, settings)

    def __bytes__(self) -> bytes:
        w = Writer().u8(int(self.op)).u8(int(self.measurement))
        if self.settings:
            _write_settings(w, self.settings)
        return bytes(w)

    def readings(self) -> list[Reading]:
        return []


def start_ecg(sample_rate_hz: int = 130, resolution_bits: int = 14) -> PmdCommand:
    """``02 00 00 01 82 00 01 01 0E 00``: start ECG at 130 Hz, 14 bit (Polar H10)."""
    return PmdCommand(PmdOp.START, MeasurementType.ECG,
                      {SettingType.SAMPLE_RATE: (sample_rate_hz,),
                       SettingType.RESOLUTION: (resolution_bits,)})


@dataclass(frozen=True, slots=True)
class PmdResponse:
    """A control-point response: ``F0 | op | type | status | [more | settings]``."""

    op: int
    measurement: MeasurementType
    status: PmdStatus
    more: bool = False
    settings: Settings | None = None

    @classmethod
    def from_bytes(cls, data: bytes) -> PmdResponse:
        r = Reader(data, "PMD control point response")
        head = r.u8("response code")
        if head != 0xF0:
            raise r.fail(f"responses start with 0xF0, got 0x{head:02X}")
        op = r.u8("op code")
        measurement = _measurement_type(r, r.u8("measurement type"))
        raw = r.u8("status")
        try:
            status = PmdStatus(raw)
        except ValueError:
            raise r.fail(f"status {raw} is not defined", "unsupported") from None
        more = False
        settings = None
        if r.remaining:
            more = bool(r.u8("more"))
            settings = _read_settings(r) if r.remaining else None
        r.done()
        return cls(op, measurement, status, more, settings)

    def __bytes__(self) -> bytes:
        w = Writer().u8(0xF0).u8(self.op).u8(int(self.measurement)).u8(int(self.status))
        if self.more or self.settings:
            w.u8(1 if self.more else 0)
            if self.settings:
                _write_settings(w, self.settings)
        return bytes(w)

    def readings(self) -> list[Reading]:
        return []


@dataclass(frozen=True, slots=True)
class PmdFeatures:
    """Control point read: ``0F | feature bitmask``; byte 1 bit 0 = ECG supported."""

    bitmask: bytes

    @classmethod
    def from_bytes(cls, data: bytes) -> PmdFeatures:
        r = Reader(data, "PMD features")
        head = r.u8("feature read code")
        if head != 0x0F:
            raise r.fail(f"feature read starts with 0x0F, got 0x{head:02X}")
        bitmask = r.rest()
        if not bitmask:
            raise r.fail("feature bitmask is empty")
        return cls(bitmask)

    def __bytes__(self) -> bytes:
        return b"\x0f" + self.bitmask

    @property
    def ecg(self) -> bool:
        return bool(self.bitmask[0] & 0x01)

    def readings(self) -> list[Reading]:
        return []


@dataclass(frozen=True, slots=True)
class EcgFrame:
    """An ECG data notification: samples in µV, the timestamp belonging to the last one."""

    timestamp_ns: int  # since 2000-01-01 on the sensor clock
    samples: tuple[int, ...]

    @classmethod
    def from_bytes(cls, data: bytes) -> EcgFrame:
        r = Reader(data, "PMD data frame")
        measurement = _measurement_type(r, r.u8("measurement type"))
        if measurement != MeasurementType.ECG:
            raise r.fail(f"measurement type {measurement.name} is not ECG", "unsupported")
        timestamp = r.u64("timestamp")
        frame_type = r.u8("frame type")
        if frame_type & 0x80:
            raise r.fail("delta-compressed ECG frames are not supported", "unsupported")
        if frame_type != 0:
            raise r.fail(f"ECG frame type {frame_type} is not supported (only type 0)", "unsupported")
        if r.remaining == 0:
            raise r.fail("frame carries no samples")
        if r.remaining % 3:
            raise r.fail(f"{r.remaining} sample bytes are not a multiple of 3 (24-bit samples)")
        samples = tuple(r.s24(f"sample {i}") for i in range(r.remaining // 3))
        r.done()
        return cls(timestamp, samples)

    def __bytes__(self) -> bytes:
        w = Writer().u8(int(MeasurementType.ECG)).u64(self.timestamp_ns).u8(0)
        for s in self.samples:
            w.s24(s)
        return bytes(w)

    def segment(self, sampling_rate_hz: float = DEFAULT_ECG_RATE_HZ) -> SegmentSamples:
        last = POLAR_EPOCH + timedelta(microseconds=self.timestamp_ns // 1000)
        first = last - timedelta(seconds=(len(self.samples) - 1) / sampling_rate_hz)
        return SegmentSamples(lead=ECG_LEAD, sampling_rate_hz=sampling_rate_hz,
                              samples=[float(s) for s in self.samples], device_time=first)

    def readings(self) -> list[Reading]:
        return []


def decode_control_point(data: bytes) -> PmdCommand | PmdResponse | PmdFeatures:
    """The control point carries commands (written), responses (0xF0) and feature reads (0x0F)."""
    if not data:
        raise DecodeError("PMD control point: empty value", reason="truncated")
    if data[0] == 0xF0:
        return PmdResponse.from_bytes(data)
    if data[0] == 0x0F:
        return PmdFeatures.from_bytes(data)
    return PmdCommand.from_bytes(data)
