"""Battery Service 0x180F: Battery Level 0x2A19 (uint8 percent, 101-255 reserved)."""

from __future__ import annotations

from dataclasses import dataclass

from devices.gatt._codec import Reader
from devices.model import Reading

UUID_SERVICE = 0x180F
UUID_LEVEL = 0x2A19


@dataclass(frozen=True, slots=True)
class BatteryLevel:
    percent: int

    @classmethod
    def from_bytes(cls, data: bytes) -> BatteryLevel:
        r = Reader(data, "Battery Level")
        percent = r.u8("level")
        r.done()
        if percent > 100:
            raise r.fail(f"level {percent} % is reserved (0..100)", "out_of_range")
        return cls(percent)

    def __bytes__(self) -> bytes:
        return bytes([self.percent])

    def readings(self) -> list[Reading]:
        return [Reading(metric="battery_level", value=float(self.percent), unit="%")]
