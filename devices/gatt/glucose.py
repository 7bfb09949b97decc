"""Glucose Service 0x1808: Glucose Measurement 0x2A18, Glucose Measurement Context 0x2A34,
Glucose Feature 0x2A51 (``shared/ble-profiles.md`` §3)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import IntEnum, IntFlag

from devices.gatt._codec import Reader, Writer
from devices.gatt.date_time import read_date_time
from devices.gatt.ieee11073 import MedFloat
from devices.model import Quality, Reading, Specimen
from devices.units import glucose_kg_per_l_to_mg_dl, glucose_mol_per_l_to_mg_dl

UUID_SERVICE = 0x1808
UUID_MEASUREMENT = 0x2A18
UUID_CONTEXT = 0x2A34
UUID_FEATURE = 0x2A51


class GlucoseUnit(IntEnum):
    KG_PER_L = 0
    MOL_PER_L = 1


class SampleType(IntEnum):
    CAPILLARY_WHOLE_BLOOD = 1
    CAPILLARY_PLASMA = 2
    VENOUS_WHOLE_BLOOD = 3
    VENOUS_PLASMA = 4
    ARTERIAL_WHOLE_BLOOD = 5
    ARTERIAL_PLASMA = 6
    UNDETERMINED_WHOLE_BLOOD = 7
    UNDETERMINED_PLASMA = 8
    INTERSTITIAL_FLUID = 9
    CONTROL_SOLUTION = 10


_SPECIMEN = {
    1: Specimen.CAPILLARY_BLOOD, 2: Specimen.CAPILLARY_BLOOD,
    3: Specimen.VENOUS_BLOOD, 4: Specimen.VENOUS_BLOOD,
    5: Specimen.ARTERIAL_BLOOD, 6: Specimen.ARTERIAL_BLOOD,
    7: Specimen.UNKNOWN, 8: Specimen.PLASMA,
    9: Specimen.INTERSTITIAL_FLUID, 10: Specimen.CONTROL_SOLUTION,
}


class SensorStatus(IntFlag):
    BATTERY_LOW = 1 << 0
    SENSOR_MALFUNCTION = 1 << 1
    SAMPLE_SIZE_INSUFFICIENT = 1 << 2
    STRIP_INSERTION_ERROR = 1 << 3
    STRIP_TYPE_INCORRECT = 1 << 4
    RESULT_TOO_HIGH = 1 << 5
    RESULT_TOO_LOW = 1 << 6
    TEMPERATURE_TOO_HIGH = 1 << 7
    TEMPERATURE_TOO_LOW = 1 << 8
    READ_INTERRUPTED = 1 << 9
    GENERAL_DEVICE_FAULT = 1 << 10
    TIME_FAULT = 1 << 11


_RESULT_UNRELIABLE = (SensorStatus.SENSOR_MALFUNCTION | SensorStatus.SAMPLE_SIZE_INSUFFICIENT
                      | SensorStatus.STRIP_INSERTION_ERROR | SensorStatus.STRIP_TYPE_INCORRECT
                      | SensorStatus.READ_INTERRUPTED | SensorStatus.GENERAL_DEVICE_FAULT
                      | SensorStatus.TEMPERATURE_TOO_HIGH | SensorStatus.TEMPERATURE_TOO_LOW)


@dataclass(frozen=True, slots=True)
class GlucoseMeasurement:
    """flags | seq u16 | base time (7) | [time offset s16 min] | [SFLOAT + type/location] | [status u16]."""

    sequence: int
    base_time: datetime | None  # meter clock, local, not changed by user edits; None: unknown
    time_offset_min: int | None = None
    concentration: MedFloat | None = None  # SI base unit per ``unit``
    unit: GlucoseUnit = GlucoseUnit.KG_PER_L
    sample_type: int | None = None
    sample_location: int | None = None
    status: SensorStatus | None = None
    context_follows: bool = False

    @classmethod
    def from_bytes(cls, data: bytes) -> GlucoseMeasurement:
        r = Reader(data, "Glucose Measurement")
        flags = r.u8("flags")
        sequence = r.u16("sequence number")
        # GLS requires a base time, but a meter whose clock was never set sends year 0:
        # the reading is kept, stamped on receipt and marked clock-uncertain.
        base = read_date_time(r, "base time")
        offset = r.s16("time offset") if flags & 0x01 else None
        concentration = sample_type = location = None
        if flags & 0x02:
            concentration = r.sfloat("concentration")
            packed = r.u8("type/sample location")
            sample_type, location = packed & 0x0F, packed >> 4
        elif flags & 0x04:
            raise r.fail("unit flag set without a concentration")
        status = SensorStatus(r.u16("sensor status annunciation") & 0x0FFF) if flags & 0x08 else None
        r.done()
        return cls(sequence, base, offset, concentration,
                   GlucoseUnit(1 if flags & 0x04 else 0), sample_type, location, status,
                   bool(flags & 0x10))

    def __bytes__(self) -> bytes:
        flags = (0x01 if self.time_offset_min is not None else 0)
        flags |= 0x02 if self.concentration is not None else 0
        flags |= 0x04 if self.concentration is not None and self.unit == GlucoseUnit.MOL_PER_L else 0
        flags |= 0x08 if self.status is not None else 0
        flags |= 0x10 if self.context_follows else 0
        w = Writer().u8(flags).u16(self.sequence).date_time(self.base_time)
        if self.time_offset_min is not None:
            w.s16(self.time_offset_min)
        if self.concentration is not None:
            w.sfloat(self.concentration).u8(((self.sample_location or 0) << 4)
                                            | (self.sample_type or 0))
        if self.status is not None:
            w.u16(int(self.status))
        return bytes(w)

    @property
    def user_facing_time(self) -> datetime | None:
        """Base time + time offset: what the meter shows (GLS 3.1.1.4); None if unknown."""
        if self.base_time is None:
            return None
        return self.base_time + timedelta(minutes=self.time_offset_min or 0)

    @property
    def mg_dl(self) -> float | None:
        if self.concentration is None or self.concentration.decimal is None:
            return None
        convert = (glucose_mol_per_l_to_mg_dl if self.unit == GlucoseUnit.MOL_PER_L
                   else glucose_kg_per_l_to_mg_dl)
        return float(convert(self.concentration.decimal))

    def readings(self) -> list[Reading]:
        """One glucose reading in mg/dL with its specimen, keyed by the sequence number.

        No reading when the concentration is absent or a special value (NaN, NRes, ±INF:
        the meter uses the annunciation bits for HI/LO); those states stay in ``fields``.
        """
        value = self.mg_dl
        if value is None:
            return []
        quality = 0
        if self.status is not None and self.status & _RESULT_UNRELIABLE:
            quality |= Quality.DEVICE_FLAGGED
        if self.status is not None and self.status & (SensorStatus.RESULT_TOO_HIGH
                                                      | SensorStatus.RESULT_TOO_LOW):
            quality |= Quality.OUT_OF_RANGE_DEVICE
        if (self.status is not None and self.status & SensorStatus.TIME_FAULT) \
                or self.base_time is None:
            quality |= Quality.CLOCK_UNCERTAIN
        specimen = _SPECIMEN.get(self.sample_type or 0, Specimen.UNKNOWN)
        return [Reading(metric="glucose", value=value, unit="mg/dL",
                        device_time=self.user_facing_time, record=self.sequence,
                        specimen=specimen, quality=quality)]


@dataclass(frozen=True, slots=True)
class GlucoseContext:
    """Glucose Measurement Context 0x2A34 (paired with a measurement by sequence number)."""

    sequence: int
    extended_flags: int | None = None
    carbohydrate: tuple[int, MedFloat] | None = None  # (carb id, kg)
    meal: int | None = None
    tester_health: int | None = None  # low nibble tester, high nibble health
    exercise: tuple[int, int] | None = None  # (duration s, intensity %)
    medication: tuple[int, MedFloat] | None = None  # (medication id, kg or L)
    medication_in_litres: bool = False
    hba1c: MedFloat | None = None  # %

    @classmethod
    def from_bytes(cls, data: bytes) -> GlucoseContext:
        r = Reader(data, "Glucose Measurement Context")
        flags = r.u8("flags")
        sequence = r.u16("sequence number")
        extended = r.u8("extended flags") if flags & 0x80 else None
        carb = (r.u8("carbohydrate id"), r.sfloat("carbohydrate")) if flags & 0x01 else None
        meal = r.u8("meal") if flags & 0x02 else None
        tester = r.u8("tester/health") if flags & 0x04 else None
        exercise = (r.u16("exercise duration"), r.u8("exercise intensity")) if flags & 0x08 else None
        medication = (r.u8("medication id"), r.sfloat("medication")) if flags & 0x10 else None
        if flags & 0x20 and medication is None:
            raise r.fail("medication unit flag set without a medication field")
        hba1c = r.sfloat("HbA1c") if flags & 0x40 else None
        r.done()
        if not flags & 0x5F:
            raise r.fail("context carries no field besides flags and sequence (GLS 3.2)")
        return cls(sequence, extended, carb, meal, tester, exercise, medication,
                   bool(flags & 0x20), hba1c)

    def __bytes__(self) -> bytes:
        flags = (0x01 if self.carbohydrate else 0) | (0x02 if self.meal is not None else 0)
        flags |= 0x04 if self.tester_health is not None else 0
        flags |= 0x08 if self.exercise else 0
        flags |= 0x10 if self.medication else 0
        flags |= 0x20 if self.medication and self.medication_in_litres else 0
        flags |= 0x40 if self.hba1c is not None else 0
        flags |= 0x80 if self.extended_flags is not None else 0
        w = Writer().u8(flags).u16(self.sequence)
        if self.extended_flags is not None:
            w.u8(self.extended_flags)
        if self.carbohydrate:
            w.u8(self.carbohydrate[0]).sfloat(self.carbohydrate[1])
        if self.meal is not None:
            w.u8(self.meal)
        if self.tester_health is not None:
            w.u8(self.tester_health)
        if self.exercise:
            w.u16(self.exercise[0]).u8(self.exercise[1])
        if self.medication:
            w.u8(self.medication[0]).sfloat(self.medication[1])
        if self.hba1c is not None:
            w.sfloat(self.hba1c)
        return bytes(w)

    def readings(self) -> list[Reading]:
        return []  # context annotates a measurement; it is kept in fields, not as a metric


class GlucoseFeatureBits(IntFlag):
    LOW_BATTERY_DETECTION = 1 << 0
    SENSOR_MALFUNCTION_DETECTION = 1 << 1
    SAMPLE_SIZE = 1 << 2
    STRIP_INSERTION_ERROR_DETECTION = 1 << 3
    STRIP_TYPE_ERROR_DETECTION = 1 << 4
    RESULT_HIGH_LOW_DETECTION = 1 << 5
    TEMPERATURE_HIGH_LOW_DETECTION = 1 << 6
    READ_INTERRUPT_DETECTION = 1 << 7
    GENERAL_DEVICE_FAULT = 1 << 8
    TIME_FAULT = 1 << 9
    MULTIPLE_BOND = 1 << 10


@dataclass(frozen=True, slots=True)
class GlucoseFeature:
    features: GlucoseFeatureBits = field(default=GlucoseFeatureBits(0))

    @classmethod
    def from_bytes(cls, data: bytes) -> GlucoseFeature:
        r = Reader(data, "Glucose Feature")
        bits = r.u16("features")
        r.done()
        return cls(GlucoseFeatureBits(bits & 0x07FF))

    def __bytes__(self) -> bytes:
        return bytes(Writer().u16(int(self.features)))

    def readings(self) -> list[Reading]:
        return []
