"""The device catalog: which services and characteristics each supported device type
exposes, what the gateway subscribes to and reads, and which procedures it must run.

The gateway drives devices from this table; the virtual wearables build their GATT
databases from it, so both sides agree by construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from devices.gatt import (
    battery,
    blood_pressure,
    cgm,
    device_information,
    glucose,
    heart_rate,
    polar_pmd,
    pulse_oximeter,
    racp,
    thermometer,
)
from devices.gatt.registry import full_uuid


class DeviceType(StrEnum):
    ECG_PATCH = "ecg_patch"
    CGM = "cgm"
    GLUCOSE_METER = "glucose_meter"
    SMARTWATCH = "smartwatch"
    BP_CUFF = "bp_cuff"


class Procedure(StrEnum):
    BOND = "bond"  # pair and keep keys; encryption required by the profile (GLS, CGMS)
    READ_FEATURES = "read_features"  # Feature/DIS characteristics before interpreting data
    RACP_BACKFILL = "racp_backfill"  # report records ≥ last + 1 after every (re)connect
    PMD_START = "pmd_start"  # write the PMD start-ECG command after subscribing
    CGM_SESSION = "cgm_session"  # read Session Start Time to place time offsets


class Access(StrEnum):
    READ = "read"
    WRITE = "write"
    NOTIFY = "notify"
    INDICATE = "indicate"


@dataclass(frozen=True, slots=True)
class CharacteristicSpec:
    uuid: str
    name: str
    access: frozenset[Access]
    subscribe: bool = False  # the gateway enables notifications/indications
    read_on_connect: bool = False  # the gateway reads it after (re)connecting


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    uuid: str
    name: str
    characteristics: tuple[CharacteristicSpec, ...]


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    type: DeviceType
    description: str
    model: str
    advertised_service: str  # in the advertising data, for scan filters
    services: tuple[ServiceSpec, ...]
    procedures: frozenset[Procedure] = field(default_factory=frozenset)
    racp_service: racp.Service | None = None
    # Nominal data rates, per hour, for completeness (expected vs received).
    expected_per_hour: dict[str, float] = field(default_factory=dict)
    # The longest a working device of this type goes without data after it is enrolled;
    # past it with nothing at all, the platform raises ``device_never_seen``. Streaming
    # devices: a few minutes; on-demand ones: the day within which protocols ask for use.
    first_data_within_s: float = 86_400.0

    def characteristic(self, uuid: str) -> CharacteristicSpec:
        for service in self.services:
            for char in service.characteristics:
                if char.uuid == uuid:
                    return char
        raise KeyError(f"{self.type} has no characteristic {uuid}")

    @property
    def subscriptions(self) -> list[CharacteristicSpec]:
        return [c for s in self.services for c in s.characteristics if c.subscribe]

    @property
    def reads(self) -> list[CharacteristicSpec]:
        return [c for s in self.services for c in s.characteristics if c.read_on_connect]


R, W, N, I = Access.READ, Access.WRITE, Access.NOTIFY, Access.INDICATE  # noqa: E741


def _c(uuid: int | str, name: str, *access: Access, subscribe: bool = False,
       read: bool = False) -> CharacteristicSpec:
    return CharacteristicSpec(full_uuid(uuid) if isinstance(uuid, int) else uuid, name,
                              frozenset(access), subscribe, read)


def _s(uuid: int | str, name: str, *chars: CharacteristicSpec) -> ServiceSpec:
    return ServiceSpec(full_uuid(uuid) if isinstance(uuid, int) else uuid, name, chars)


def _dis(*, serial: bool = True) -> ServiceSpec:
    chars = [_c(device_information.UUID_MANUFACTURER_NAME, "Manufacturer Name", R, read=True),
             _c(device_information.UUID_MODEL_NUMBER, "Model Number", R, read=True),
             _c(device_information.UUID_FIRMWARE_REVISION, "Firmware Revision", R, read=True)]
    if serial:
        chars.append(_c(device_information.UUID_SERIAL_NUMBER, "Serial Number", R, read=True))
    return _s(device_information.UUID_SERVICE, "Device Information", *chars)


def _battery() -> ServiceSpec:
    return _s(battery.UUID_SERVICE, "Battery",
              _c(battery.UUID_LEVEL, "Battery Level", R, N, subscribe=True, read=True))


def _heart_rate() -> ServiceSpec:
    return _s(heart_rate.UUID_SERVICE, "Heart Rate",
              _c(heart_rate.UUID_MEASUREMENT, "Heart Rate Measurement", N, subscribe=True),
              _c(heart_rate.UUID_BODY_SENSOR_LOCATION, "Body Sensor Location", R, read=True))


CATALOG: dict[DeviceType, DeviceSpec] = {
    DeviceType.ECG_PATCH: DeviceSpec(
        type=DeviceType.ECG_PATCH,
        description="Chest ECG patch (Polar-H10-like): PMD raw ECG at 130 Hz plus HRS",
        model="TW-ECG1",
        advertised_service=full_uuid(heart_rate.UUID_SERVICE),
        services=(
            _heart_rate(),
            _s(polar_pmd.UUID_SERVICE, "Polar Measurement Data",
               _c(polar_pmd.UUID_CONTROL_POINT, "PMD Control Point", R, W, I, subscribe=True),
               _c(polar_pmd.UUID_DATA, "PMD Data", N, subscribe=True)),
            _battery(),
            _dis(),
        ),
        procedures=frozenset({Procedure.READ_FEATURES, Procedure.PMD_START}),
        expected_per_hour={"heart_rate": 3600, "rr_interval": 3600, "ecg_samples": 130 * 3600},
        first_data_within_s=600.0,
    ),
    DeviceType.CGM: DeviceSpec(
        type=DeviceType.CGM,
        description="Continuous glucose monitor: CGMS with E2E-CRC, RACP backfill by time offset",
        model="TW-CGM1",
        advertised_service=full_uuid(cgm.UUID_SERVICE),
        services=(
            _s(cgm.UUID_SERVICE, "Continuous Glucose Monitoring",
               _c(cgm.UUID_MEASUREMENT, "CGM Measurement", N, subscribe=True),
               _c(cgm.UUID_FEATURE, "CGM Feature", R, read=True),
               _c(cgm.UUID_STATUS, "CGM Status", R, read=True),
               _c(cgm.UUID_SESSION_START_TIME, "CGM Session Start Time", R, W, read=True),
               _c(cgm.UUID_SESSION_RUN_TIME, "CGM Session Run Time", R, read=True),
               _c(racp.UUID_RACP, "Record Access Control Point", W, I, subscribe=True),
               _c(cgm.UUID_SOCP, "CGM Specific Ops Control Point", W, I, subscribe=True)),
            _battery(),
            _dis(),
        ),
        procedures=frozenset({Procedure.BOND, Procedure.READ_FEATURES, Procedure.RACP_BACKFILL,
                              Procedure.CGM_SESSION}),
        racp_service="cgm",
        expected_per_hour={"glucose": 12},  # one record per 5 minutes
        first_data_within_s=1800.0,  # the sensor's warm-up, then a record per 5 minutes
    ),
    DeviceType.GLUCOSE_METER: DeviceSpec(
        type=DeviceType.GLUCOSE_METER,
        description="Blood-glucose meter: GLS with stored records, RACP backfill by sequence",
        model="TW-BGM1",
        advertised_service=full_uuid(glucose.UUID_SERVICE),
        services=(
            _s(glucose.UUID_SERVICE, "Glucose",
               _c(glucose.UUID_MEASUREMENT, "Glucose Measurement", N, subscribe=True),
               _c(glucose.UUID_CONTEXT, "Glucose Measurement Context", N, subscribe=True),
               _c(glucose.UUID_FEATURE, "Glucose Feature", R, read=True),
               _c(racp.UUID_RACP, "Record Access Control Point", W, I, subscribe=True)),
            _battery(),
            _dis(),
        ),
        procedures=frozenset({Procedure.BOND, Procedure.READ_FEATURES, Procedure.RACP_BACKFILL}),
        racp_service="glucose",
        expected_per_hour={},  # finger sticks on demand: no expected rate
    ),
    DeviceType.SMARTWATCH: DeviceSpec(
        type=DeviceType.SMARTWATCH,
        description="Smartwatch: HRS, PLX continuous, health thermometer, battery, DIS",
        model="TW-WATCH1",
        advertised_service=full_uuid(heart_rate.UUID_SERVICE),
        services=(
            _heart_rate(),
            _s(pulse_oximeter.UUID_SERVICE, "Pulse Oximeter",
               _c(pulse_oximeter.UUID_CONTINUOUS, "PLX Continuous Measurement", N, subscribe=True),
               _c(pulse_oximeter.UUID_FEATURES, "PLX Features", R, read=True)),
            _s(thermometer.UUID_SERVICE, "Health Thermometer",
               _c(thermometer.UUID_MEASUREMENT, "Temperature Measurement", I, subscribe=True),
               _c(thermometer.UUID_TYPE, "Temperature Type", R, read=True)),
            _battery(),
            _dis(),
        ),
        procedures=frozenset({Procedure.READ_FEATURES}),
        expected_per_hour={"heart_rate": 3600, "spo2": 3600, "pulse_rate": 3600,
                           "body_temperature": 60},
        first_data_within_s=600.0,
    ),
    DeviceType.BP_CUFF: DeviceSpec(
        type=DeviceType.BP_CUFF,
        description="Blood-pressure cuff: BPS measurements on demand",
        model="TW-BP1",
        advertised_service=full_uuid(blood_pressure.UUID_SERVICE),
        services=(
            _s(blood_pressure.UUID_SERVICE, "Blood Pressure",
               _c(blood_pressure.UUID_MEASUREMENT, "Blood Pressure Measurement", I, subscribe=True),
               _c(blood_pressure.UUID_FEATURE, "Blood Pressure Feature", R, read=True)),
            _battery(),
            _dis(),
        ),
        procedures=frozenset({Procedure.READ_FEATURES}),
        expected_per_hour={},
    ),
}


def spec(device_type: DeviceType | str) -> DeviceSpec:
    return CATALOG[DeviceType(device_type)]
