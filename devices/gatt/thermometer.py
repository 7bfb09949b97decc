"""Health Thermometer 0x1809: Temperature Measurement 0x2A1C (and Intermediate 0x2A1E, same
layout), Temperature Type 0x2A1D (``shared/ble-profiles.md`` §6.1)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from devices.gatt._codec import Reader, Writer
from devices.gatt.date_time import read_date_time
from devices.gatt.ieee11073 import MedFloat
from devices.model import Quality, Reading
from devices.units import fahrenheit_to_celsius

UUID_SERVICE = 0x1809
UUID_MEASUREMENT = 0x2A1C
UUID_TYPE = 0x2A1D
UUID_INTERMEDIATE = 0x2A1E

TEMPERATURE_TYPES = {1: "armpit", 2: "body", 3: "ear", 4: "finger", 5: "gastrointestinal",
                     6: "mouth", 7: "rectum", 8: "toe", 9: "tympanum"}


@dataclass(frozen=True, slots=True)
class TemperatureMeasurement:
    """flags | temperature FLOAT | [timestamp] | [type u8]; flag bit 0: 0 °C, 1 °F."""

    temperature: MedFloat
    fahrenheit: bool = False
    timestamp: datetime | None = None
    has_timestamp: bool = False
    temperature_type: int | None = None

    @classmethod
    def from_bytes(cls, data: bytes) -> TemperatureMeasurement:
        r = Reader(data, "Temperature Measurement")
        flags = r.u8("flags")
        temperature = r.medfloat32("temperature")
        has_ts = bool(flags & 0x02)
        ts = read_date_time(r, "timestamp") if has_ts else None
        kind = r.u8("temperature type") if flags & 0x04 else None
        r.done()
        return cls(temperature, bool(flags & 0x01), ts, has_ts, kind)

    def __bytes__(self) -> bytes:
        has_ts = self.has_timestamp or self.timestamp is not None
        flags = (0x01 if self.fahrenheit else 0) | (0x02 if has_ts else 0)
        flags |= 0x04 if self.temperature_type is not None else 0
        w = Writer().u8(flags).medfloat32(self.temperature)
        if has_ts:
            w.date_time(self.timestamp)
        if self.temperature_type is not None:
            w.u8(self.temperature_type)
        return bytes(w)

    @property
    def celsius(self) -> float | None:
        d = self.temperature.decimal
        if d is None:
            return None
        return float(fahrenheit_to_celsius(d) if self.fahrenheit else d)

    def readings(self) -> list[Reading]:
        value = self.celsius
        if value is None:
            return []
        unknown = self.has_timestamp and self.timestamp is None  # sent, but "not known"
        return [Reading(metric="body_temperature", value=value, unit="Cel",
                        device_time=self.timestamp,
                        quality=int(Quality.CLOCK_UNCERTAIN) if unknown else 0)]


@dataclass(frozen=True, slots=True)
class TemperatureType:
    kind: int

    @classmethod
    def from_bytes(cls, data: bytes) -> TemperatureType:
        r = Reader(data, "Temperature Type")
        kind = r.u8("temperature type")
        r.done()
        return cls(kind)

    def __bytes__(self) -> bytes:
        return bytes([self.kind])

    def readings(self) -> list[Reading]:
        return []
