"""IEEE 11073-20601 SFLOAT (16-bit) and FLOAT (32-bit) with their special values as states.

A value is kept as mantissa and exponent (no binary rounding: 120 × 10⁻⁵ stays exact);
NaN, NRes, +INF, −INF and the reserved code are explicit states, never numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


class Special(StrEnum):
    NAN = "nan"  # invalid result / missing data
    NRES = "nres"  # not representable at this resolution
    POSITIVE_INFINITY = "+inf"
    NEGATIVE_INFINITY = "-inf"
    RESERVED = "reserved"


_SFLOAT_SPECIAL = {0x07FF: Special.NAN, 0x0800: Special.NRES, 0x07FE: Special.POSITIVE_INFINITY,
                   0x0802: Special.NEGATIVE_INFINITY, 0x0801: Special.RESERVED}
_FLOAT_SPECIAL = {0x007FFFFF: Special.NAN, 0x00800000: Special.NRES,
                  0x007FFFFE: Special.POSITIVE_INFINITY, 0x00800002: Special.NEGATIVE_INFINITY,
                  0x00800001: Special.RESERVED}
_SFLOAT_CODE = {v: k for k, v in _SFLOAT_SPECIAL.items()}
_FLOAT_CODE = {v: k for k, v in _FLOAT_SPECIAL.items()}


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value & (1 << (bits - 1)) else value


@dataclass(frozen=True, slots=True)
class MedFloat:
    """mantissa × 10^exponent, or a special state (then mantissa/exponent are 0)."""

    mantissa: int = 0
    exponent: int = 0
    special: Special | None = None

    @classmethod
    def of(cls, value: Decimal | int | str, exponent: int | None = None) -> MedFloat:
        """Exact value from a decimal, optionally at a fixed exponent."""
        d = Decimal(value)
        if exponent is None:
            exp = d.normalize().as_tuple().exponent
            exponent = int(exp)
        mantissa = int(d.scaleb(-exponent))
        return cls(mantissa, exponent)

    @classmethod
    def state(cls, special: Special) -> MedFloat:
        return cls(0, 0, special)

    @property
    def is_number(self) -> bool:
        return self.special is None

    @property
    def decimal(self) -> Decimal | None:
        """The exact value, or None for a special state."""
        if self.special is not None:
            return None
        return Decimal(self.mantissa).scaleb(self.exponent)

    @property
    def value(self) -> float | None:
        """Nearest float of the exact value, or None for a special state."""
        d = self.decimal
        return None if d is None else float(d)

    def describe(self) -> float | str:
        """JSON-friendly: the number, or the special state's name."""
        return self.special.value if self.special is not None else float(self.decimal)  # type: ignore[arg-type]

    # -- SFLOAT: exponent 4-bit signed (high nibble), mantissa 12-bit signed --------------

    @classmethod
    def from_sfloat(cls, raw: int) -> MedFloat:
        special = _SFLOAT_SPECIAL.get(raw)
        if special is not None:
            return cls.state(special)
        return cls(_signed(raw & 0x0FFF, 12), _signed(raw >> 12, 4))

    def to_sfloat(self) -> int:
        if self.special is not None:
            return _SFLOAT_CODE[self.special]
        if not (-2048 <= self.mantissa <= 2047 and -8 <= self.exponent <= 7):
            raise ValueError(f"{self} does not fit an SFLOAT")
        if self.exponent == 0 and (self.mantissa & 0x0FFF) in _SFLOAT_SPECIAL:
            raise ValueError(f"{self} collides with an SFLOAT special value")
        return ((self.exponent & 0xF) << 12) | (self.mantissa & 0x0FFF)

    # -- FLOAT: exponent 8-bit signed (high byte), mantissa 24-bit signed -----------------

    @classmethod
    def from_float32(cls, raw: int) -> MedFloat:
        special = _FLOAT_SPECIAL.get(raw)
        if special is not None:
            return cls.state(special)
        return cls(_signed(raw & 0xFFFFFF, 24), _signed(raw >> 24, 8))

    def to_float32(self) -> int:
        if self.special is not None:
            return _FLOAT_CODE[self.special]
        if not (-(1 << 23) <= self.mantissa < (1 << 23) and -128 <= self.exponent <= 127):
            raise ValueError(f"{self} does not fit a FLOAT")
        if self.exponent == 0 and (self.mantissa & 0xFFFFFF) in _FLOAT_SPECIAL:
            raise ValueError(f"{self} collides with a FLOAT special value")
        return ((self.exponent & 0xFF) << 24) | (self.mantissa & 0xFFFFFF)
