"""Heart Rate Service 0x180D: Heart Rate Measurement 0x2A37, Body Sensor Location 0x2A38,
Heart Rate Control Point 0x2A39 (``shared/ble-profiles.md`` §2)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from devices.gatt._codec import Reader, Writer
from devices.model import Reading
from devices.units import rr_1024_to_ms

UUID_SERVICE = 0x180D
UUID_MEASUREMENT = 0x2A37
UUID_BODY_SENSOR_LOCATION = 0x2A38
UUID_CONTROL_POINT = 0x2A39


class SensorContact(IntEnum):
    NOT_SUPPORTED = 0
    NOT_DETECTED = 2
    DETECTED = 3


class BodySensorLocation(IntEnum):
    OTHER = 0
    CHEST = 1
    WRIST = 2
    FINGER = 3
    HAND = 4
    EAR_LOBE = 5
    FOOT = 6


@dataclass(frozen=True, slots=True)
class HeartRateMeasurement:
    """flags | HR u8/u16 | [energy expended u16 kJ] | [RR u16 × n, 1/1024 s, oldest first]."""

    heart_rate: int  # /min
    sensor_contact: SensorContact = SensorContact.NOT_SUPPORTED
    energy_expended: int | None = None  # kJ since reset
    rr_intervals: tuple[int, ...] = ()  # raw, 1/1024 s
    uint16: bool = False  # the flag, honoured even when the value fits a byte

    @classmethod
    def from_bytes(cls, data: bytes) -> HeartRateMeasurement:
        r = Reader(data, "Heart Rate Measurement")
        flags = r.u8("flags")
        uint16 = bool(flags & 0x01)
        heart_rate = r.u16("heart rate (uint16)") if uint16 else r.u8("heart rate (uint8)")
        contact_bits = (flags >> 1) & 0x03
        contact = (SensorContact(contact_bits) if contact_bits in (2, 3)
                   else SensorContact.NOT_SUPPORTED)
        energy = r.u16("energy expended") if flags & 0x08 else None
        rr: list[int] = []
        if flags & 0x10:
            if r.remaining == 0:
                raise r.fail("RR-interval flag set but no RR value present")
            if r.remaining % 2:
                raise r.fail(f"RR-interval list has an odd number of bytes ({r.remaining})")
            while r.remaining:
                rr.append(r.u16(f"RR interval {len(rr)}"))
        r.done()
        return cls(heart_rate, contact, energy, tuple(rr), uint16)

    def __bytes__(self) -> bytes:
        uint16 = self.uint16 or self.heart_rate > 0xFF
        flags = (0x01 if uint16 else 0) | (int(self.sensor_contact) << 1)
        flags |= 0x08 if self.energy_expended is not None else 0
        flags |= 0x10 if self.rr_intervals else 0
        w = Writer().u8(flags)
        w.u16(self.heart_rate) if uint16 else w.u8(self.heart_rate)
        if self.energy_expended is not None:
            w.u16(self.energy_expended)
        for rr in self.rr_intervals:
            w.u16(rr)
        return bytes(w)

    def readings(self) -> list[Reading]:
        """heart_rate, energy_expended if reported, one rr_interval per RR value.

        RR values are oldest first and end at the notification: each gets a negative
        offset so consecutive intervals have distinct, ordered times.
        """
        out = [Reading(metric="heart_rate", value=float(self.heart_rate), unit="/min")]
        if self.energy_expended is not None:
            out.append(Reading(metric="energy_expended", value=float(self.energy_expended),
                               unit="kJ"))
        rr_ms = [rr_1024_to_ms(rr) for rr in self.rr_intervals]
        after = sum(rr_ms)  # time from the end of each interval to the notification
        for ms in rr_ms:
            after -= ms
            out.append(Reading(metric="rr_interval", value=ms, unit="ms",
                               offset_ms=-after if after else 0.0))
        return out


@dataclass(frozen=True, slots=True)
class BodySensorLocationValue:
    location: int  # BodySensorLocation, or an RFU code kept as is

    @classmethod
    def from_bytes(cls, data: bytes) -> BodySensorLocationValue:
        r = Reader(data, "Body Sensor Location")
        location = r.u8("location")
        r.done()
        return cls(location)

    def __bytes__(self) -> bytes:
        return bytes([self.location])

    def readings(self) -> list[Reading]:
        return []

    @property
    def name(self) -> str:
        try:
            return BodySensorLocation(self.location).name.lower()
        except ValueError:
            return f"reserved_{self.location}"


RESET_ENERGY_EXPENDED = 0x01


@dataclass(frozen=True, slots=True)
class HeartRateControlPoint:
    """0x2A39: the only defined command is 0x01 Reset Energy Expended."""

    command: int

    @classmethod
    def from_bytes(cls, data: bytes) -> HeartRateControlPoint:
        r = Reader(data, "Heart Rate Control Point")
        command = r.u8("command")
        r.done()
        if command != RESET_ENERGY_EXPENDED:
            raise r.fail(f"command 0x{command:02X} is not supported (only 0x01)", "unsupported")
        return cls(command)

    def __bytes__(self) -> bytes:
        return bytes([self.command])

    def readings(self) -> list[Reading]:
        return []
