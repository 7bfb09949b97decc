"""Date Time (0x2A08), Day Date Time, Current Time (0x2A2B) and time-zone fields.

Date Time carries no zone: decoders return a naive ``datetime`` in the device's local
clock (the gateway converts to UTC with its clock-offset estimate), or None when the date
is not known: GSS 3.70 gives year 0, month 0 and day 0 each the meaning "not known", and
cuffs and meters whose clock was never set send year 0 with a running month, day and
time. Such a measurement is still a measurement: the gateway stamps it on receipt and
marks it clock-uncertain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntFlag

from devices.errors import DecodeError
from devices.gatt._codec import Reader, Writer
from devices.model import Reading

UUID_DATE_TIME = 0x2A08
UUID_CURRENT_TIME = 0x2A2B


def read_date_time(r: Reader, field: str = "date time") -> datetime | None:
    """7 bytes: year u16, month, day, hours, minutes, seconds; None when year, month or
    day is 0 ("not known"). Every field present is still range-checked."""
    year, month, day = r.u16(f"{field}.year"), r.u8(f"{field}.month"), r.u8(f"{field}.day")
    hours, minutes, seconds = (r.u8(f"{field}.hours"), r.u8(f"{field}.minutes"),
                               r.u8(f"{field}.seconds"))
    if year == 0 or month == 0 or day == 0:
        if month > 12 or day > 31 or hours > 23 or minutes > 59 or seconds > 59:
            raise r.fail(f"{field}: {year:04d}-{month:02d}-{day:02d} {hours:02d}:"
                         f"{minutes:02d}:{seconds:02d} is not a valid date and time",
                         "out_of_range")
        return None
    if not 1582 <= year <= 9999:
        raise r.fail(f"{field}: year {year} outside 1582..9999", "out_of_range")
    if not (1 <= month <= 12 and 1 <= day <= 31 and hours <= 23 and minutes <= 59
            and seconds <= 59):
        raise r.fail(f"{field}: {year:04d}-{month:02d}-{day:02d} {hours:02d}:{minutes:02d}:"
                     f"{seconds:02d} is not a valid date and time", "out_of_range")
    try:
        return datetime(year, month, day, hours, minutes, seconds)  # noqa: DTZ001 - device local time
    except ValueError as exc:
        raise r.fail(f"{field}: {exc}", "out_of_range") from None


def encode_date_time(value: datetime | None) -> bytes:
    if value is None:
        return bytes(7)
    return bytes(Writer().u16(value.year).u8(value.month).u8(value.day).u8(value.hour)
                 .u8(value.minute).u8(value.second))


class AdjustReason(IntFlag):
    MANUAL = 0x01
    EXTERNAL_REFERENCE = 0x02
    TIME_ZONE_CHANGE = 0x04
    DST_CHANGE = 0x08


@dataclass(frozen=True, slots=True)
class DateTimeValue:
    """Date Time characteristic 0x2A08."""

    time: datetime | None

    @classmethod
    def from_bytes(cls, data: bytes) -> DateTimeValue:
        r = Reader(data, "Date Time")
        value = read_date_time(r)
        r.done()
        return cls(value)

    def __bytes__(self) -> bytes:
        return encode_date_time(self.time)

    def readings(self) -> list[Reading]:
        return []  # a clock, not a measurement: the gateway reads it to estimate offsets


@dataclass(frozen=True, slots=True)
class CurrentTime:
    """Current Time 0x2A2B: Date Time, day of week (1=Mon..7, 0 unknown), 1/256 s, reason."""

    time: datetime | None
    day_of_week: int
    fractions256: int
    adjust_reason: AdjustReason

    @classmethod
    def from_bytes(cls, data: bytes) -> CurrentTime:
        r = Reader(data, "Current Time")
        time = read_date_time(r)
        dow = r.u8("day of week")
        if dow > 7:
            raise r.fail(f"day of week {dow} outside 0..7", "out_of_range")
        fractions = r.u8("fractions256")
        reason = AdjustReason(r.u8("adjust reason") & 0x0F)
        r.done()
        if time is not None and dow and time.isoweekday() != dow:
            raise DecodeError(f"Current Time: day of week {dow} does not match "
                              f"{time.date().isoformat()}", reason="inconsistent")
        return cls(time, dow, fractions, reason)

    def __bytes__(self) -> bytes:
        return bytes(Writer().date_time(self.time).u8(self.day_of_week).u8(self.fractions256)
                     .u8(int(self.adjust_reason)))

    def readings(self) -> list[Reading]:
        return []  # a clock, not a measurement


def read_time_zone(r: Reader) -> int | None:
    """Time Zone sint8 in 15-minute steps (−48..+56); −128 = unknown → None. Minutes."""
    raw = r.s8("time zone")
    if raw == -128:
        return None
    if not -48 <= raw <= 56:
        raise r.fail(f"time zone {raw} outside -48..56 (15-minute steps)", "out_of_range")
    return raw * 15


def read_dst_offset(r: Reader) -> int | None:
    """DST Offset: 0, 2, 4, 8 (×15 min = 0, 0.5, 1, 2 h); 255 unknown → None. Minutes."""
    raw = r.u8("DST offset")
    if raw == 255:
        return None
    if raw not in (0, 2, 4, 8):
        raise r.fail(f"DST offset {raw} is reserved", "out_of_range")
    return raw * 15
