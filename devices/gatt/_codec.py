"""Bounded little-endian reading and writing of GATT values.

Every decoder reads through :class:`Reader`, which raises :class:`DecodeError` naming the
characteristic and field on truncation and refuses trailing bytes, so decoders never
raise ``struct.error`` or ``IndexError``.
"""

from __future__ import annotations

import struct
from datetime import datetime

from devices.errors import DecodeError
from devices.gatt.ieee11073 import MedFloat


class Reader:
    """Reads fields of one characteristic value, oldest byte first."""

    __slots__ = ("_data", "_pos", "what")

    def __init__(self, data: bytes | bytearray | memoryview, what: str) -> None:
        self._data = bytes(data)
        self._pos = 0
        self.what = what

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    @property
    def position(self) -> int:
        return self._pos

    def consumed(self, start: int = 0) -> bytes:
        """The bytes read so far from ``start`` (e.g. what a CRC covers)."""
        return self._data[start:self._pos]

    def take(self, n: int, field: str) -> bytes:
        if n < 0 or self.remaining < n:
            raise DecodeError(
                f"{self.what}: truncated at {field}: needs {n} byte(s) at offset {self._pos}, "
                f"{max(self.remaining, 0)} left",
                reason="truncated",
            )
        chunk = self._data[self._pos:self._pos + n]
        self._pos += n
        return chunk

    def _unpack(self, fmt: str, field: str) -> int:
        size = struct.calcsize(fmt)
        return int(struct.unpack(fmt, self.take(size, field))[0])

    def u8(self, field: str) -> int:
        return self._unpack("<B", field)

    def s8(self, field: str) -> int:
        return self._unpack("<b", field)

    def u16(self, field: str) -> int:
        return self._unpack("<H", field)

    def s16(self, field: str) -> int:
        return self._unpack("<h", field)

    def u24(self, field: str) -> int:
        return int.from_bytes(self.take(3, field), "little")

    def s24(self, field: str) -> int:
        return int.from_bytes(self.take(3, field), "little", signed=True)

    def u32(self, field: str) -> int:
        return self._unpack("<I", field)

    def u64(self, field: str) -> int:
        return self._unpack("<Q", field)

    def f32(self, field: str) -> float:
        return float(struct.unpack("<f", self.take(4, field))[0])

    def sfloat(self, field: str) -> MedFloat:
        return MedFloat.from_sfloat(self.u16(field))

    def medfloat32(self, field: str) -> MedFloat:
        return MedFloat.from_float32(self.u32(field))

    def rest(self) -> bytes:
        return self.take(self.remaining, "rest")

    def done(self) -> None:
        """Refuse trailing bytes: an over-long value is as wrong as a short one."""
        if self.remaining:
            raise DecodeError(
                f"{self.what}: {self.remaining} unexpected trailing byte(s) at offset "
                f"{self._pos} (value is {len(self._data)} bytes)",
                reason="overlong",
            )

    def fail(self, message: str, reason: str = "inconsistent") -> DecodeError:
        return DecodeError(f"{self.what}: {message}", reason=reason)


class Writer:
    """Builds a characteristic value; the encoders mirror the decoders field by field."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = bytearray()

    def __bytes__(self) -> bytes:
        return bytes(self._buf)

    def raw(self, data: bytes) -> Writer:
        self._buf += data
        return self

    def u8(self, v: int) -> Writer:
        self._buf += struct.pack("<B", v)
        return self

    def s8(self, v: int) -> Writer:
        self._buf += struct.pack("<b", v)
        return self

    def u16(self, v: int) -> Writer:
        self._buf += struct.pack("<H", v)
        return self

    def s16(self, v: int) -> Writer:
        self._buf += struct.pack("<h", v)
        return self

    def u24(self, v: int) -> Writer:
        self._buf += v.to_bytes(3, "little")
        return self

    def s24(self, v: int) -> Writer:
        self._buf += v.to_bytes(3, "little", signed=True)
        return self

    def u32(self, v: int) -> Writer:
        self._buf += struct.pack("<I", v)
        return self

    def u64(self, v: int) -> Writer:
        self._buf += struct.pack("<Q", v)
        return self

    def f32(self, v: float) -> Writer:
        self._buf += struct.pack("<f", v)
        return self

    def sfloat(self, v: MedFloat) -> Writer:
        return self.u16(v.to_sfloat())

    def medfloat32(self, v: MedFloat) -> Writer:
        return self.u32(v.to_float32())

    def date_time(self, v: datetime | None) -> Writer:
        from devices.gatt.date_time import encode_date_time

        self._buf += encode_date_time(v)
        return self
