"""Hand-computed vectors from the specifications (shared/ble-profiles.md), one group per
characteristic, including special values, negative exponents, mol/L glucose, negative
time offsets and wrong CRCs."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from devices.errors import DecodeError
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
from devices.gatt.crc import crc16_mcrf4xx
from devices.gatt.date_time import CurrentTime
from devices.gatt.ieee11073 import MedFloat, Special
from devices.gatt.registry import DecodeContext, decode
from devices.model import Quality

H = bytes.fromhex


# -- IEEE 11073 ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("raw", "value"),
    [("7800", 120.0), ("78B0", 0.0012), ("F1FF", -1.5), ("0710", 70.0), ("00F8", -204.8)],
)
def test_sfloat_values(raw: str, value: float) -> None:
    word = int.from_bytes(H(raw), "little")
    assert MedFloat.from_sfloat(word).value == pytest.approx(value, rel=0, abs=1e-12)


def test_sfloat_exponent_is_exact() -> None:
    m = MedFloat.from_sfloat(0xB078)  # 120 × 10⁻⁵
    assert (m.mantissa, m.exponent) == (120, -5)
    assert str(m.decimal) == "0.00120"


@pytest.mark.parametrize(
    ("word", "state"),
    [(0x07FF, Special.NAN), (0x0800, Special.NRES), (0x07FE, Special.POSITIVE_INFINITY),
     (0x0802, Special.NEGATIVE_INFINITY), (0x0801, Special.RESERVED)],
)
def test_sfloat_specials_are_states_not_numbers(word: int, state: Special) -> None:
    m = MedFloat.from_sfloat(word)
    assert m.special is state
    assert m.value is None
    assert m.to_sfloat() == word


def test_float32_values_and_specials() -> None:
    assert MedFloat.from_float32(int.from_bytes(H("B00E00FE"), "little")).value == 37.6
    assert MedFloat.from_float32(int.from_bytes(H("C9FFFFFF"), "little")).value == -5.5
    assert MedFloat.from_float32(0x007FFFFF).special is Special.NAN
    assert MedFloat.from_float32(0x00800002).special is Special.NEGATIVE_INFINITY


# -- Heart rate ---------------------------------------------------------------------------

def test_heart_rate_uint8_with_contact_and_rr() -> None:
    m = heart_rate.HeartRateMeasurement.from_bytes(H("16 48 0004 3303"))
    assert m.heart_rate == 72
    assert m.sensor_contact is heart_rate.SensorContact.DETECTED
    assert m.rr_intervals == (1024, 819)
    rr = [r for r in m.readings() if r.metric == "rr_interval"]
    assert [r.value for r in rr] == [1000.0, 799.8046875]
    assert [r.offset_ms for r in rr] == [-799.8046875, 0.0]


def test_heart_rate_uint16_flag_is_honoured_and_energy_in_kj() -> None:
    m = heart_rate.HeartRateMeasurement.from_bytes(H("09 4800 1027"))
    assert (m.heart_rate, m.uint16, m.energy_expended) == (72, True, 10000)
    assert {r.metric: (r.value, r.unit) for r in m.readings()} == {
        "heart_rate": (72.0, "/min"), "energy_expended": (10000.0, "kJ")}


@pytest.mark.parametrize(
    ("payload", "message"),
    [("01 48", "truncated at heart rate (uint16)"),
     ("10 48", "RR-interval flag set but no RR value"),
     ("10 48 000401", "odd number of bytes (3)"),
     ("", "truncated at flags"),
     ("00 48 00", "1 unexpected trailing byte")],
)
def test_heart_rate_rejects(payload: str, message: str) -> None:
    with pytest.raises(DecodeError, match=re.escape(message)):
        heart_rate.HeartRateMeasurement.from_bytes(H(payload))


def test_body_sensor_location_and_control_point() -> None:
    assert heart_rate.BodySensorLocationValue.from_bytes(b"\x01").name == "chest"
    assert heart_rate.BodySensorLocationValue.from_bytes(b"\x09").name == "reserved_9"
    with pytest.raises(DecodeError, match="0x02 is not supported"):
        heart_rate.HeartRateControlPoint.from_bytes(b"\x02")


# -- Glucose ------------------------------------------------------------------------------

def test_glucose_kg_per_l_with_negative_offset() -> None:
    # flags 0x0B: offset, concentration, status; seq 1; 2021-11-25 12:30:00; offset −10 min;
    # 120 × 10⁻⁵ kg/L = 120 mg/dL; capillary whole blood at the finger; no status bits.
    m = glucose.GlucoseMeasurement.from_bytes(H("0B 0100 E5070B190C1E00 F6FF 78B0 11 0000"))
    assert m.sequence == 1
    assert m.time_offset_min == -10
    assert m.user_facing_time == datetime(2021, 11, 25, 12, 20)
    assert m.mg_dl == 120.0
    [r] = m.readings()
    assert (r.metric, r.value, r.unit, r.specimen, r.record) == (
        "glucose", 120.0, "mg/dL", "capillary_blood", 1)


def test_glucose_mol_per_l_is_converted_to_mg_dl() -> None:
    # 67 × 10⁻⁴ mol/L = 6.7 mmol/L → 6.7 × 18.0156 = 120.70452 mg/dL
    m = glucose.GlucoseMeasurement.from_bytes(H("06 0200 E5070B190C1E00 43C0 11"))
    assert m.unit is glucose.GlucoseUnit.MOL_PER_L
    assert m.mg_dl == pytest.approx(120.70452, abs=1e-9)


def test_glucose_nan_concentration_gives_no_reading_but_keeps_the_state() -> None:
    m = glucose.GlucoseMeasurement.from_bytes(H("0A 0300 E5070B190C1E00 FF07 11 2000"))
    assert m.concentration is not None
    assert m.concentration.special is Special.NAN
    assert m.status == glucose.SensorStatus.RESULT_TOO_HIGH
    assert m.readings() == []


@pytest.mark.parametrize(
    ("payload", "message"),
    [("02 0100 E5070D190C1E00 78B0 11", "not a valid date"),
     ("02 0100 00000D190C1E00 78B0 11", "not a valid date"),  # year unknown, month 13
     ("04 0100 E5070B190C1E00", "unit flag set without a concentration"),
     ("02 0100 E5070B190C1E00 78B0", "truncated at type/sample location")],
)
def test_glucose_rejects(payload: str, message: str) -> None:
    with pytest.raises(DecodeError, match=re.escape(message)):
        glucose.GlucoseMeasurement.from_bytes(H(payload))


@pytest.mark.parametrize("base", ["00000B190C1E00", "E507000000000000"[:14], "00000000000000"])
def test_glucose_with_an_unknown_date_is_kept_clock_uncertain(base: str) -> None:
    """Year 0 (a meter whose clock was never set), or the all-zero date: GSS says "not
    known". The reading is kept; the gateway stamps it on receipt."""
    m = glucose.GlucoseMeasurement.from_bytes(H(f"02 0700 {base} 78B0 11"))
    assert m.base_time is None and m.user_facing_time is None
    [r] = m.readings()
    assert (r.metric, r.value, r.record, r.device_time) == ("glucose", 120.0, 7, None)
    assert r.quality & Quality.CLOCK_UNCERTAIN


def test_blood_pressure_with_year_zero_is_kept_clock_uncertain() -> None:
    # flags 0x02: timestamp present; 120/80/93 mmHg; 0000-11-25 08:30:00 (clock never set)
    m = blood_pressure.BloodPressureMeasurement.from_bytes(
        H("02 7800 5000 5D00 00000B19081E00"))
    assert m.timestamp is None
    readings = m.readings()
    assert [r.value for r in readings] == [120.0, 80.0, 93.0]
    assert all(r.device_time is None and r.quality & Quality.CLOCK_UNCERTAIN for r in readings)


@pytest.mark.parametrize(("uuid", "payload"), [
    ("00002a08-0000-1000-8000-00805f9b34fb", "E5070B190C1E00"),  # Date Time
    ("00002a2b-0000-1000-8000-00805f9b34fb", "E5070B190C1E00 04 80 01"),  # Current Time, Thu
])
def test_date_time_characteristics_decode_to_no_readings(uuid: str, payload: str) -> None:
    """Once an internal error (no ``readings()``) on every valid value."""
    decoded = decode(uuid, H(payload))
    assert decoded.readings == []
    assert decoded.value.time == datetime(2021, 11, 25, 12, 30)


def test_glucose_context_and_feature() -> None:
    c = glucose.GlucoseContext.from_bytes(H("03 0100 01 2ED0 02"))  # breakfast 46 g, postprandial
    assert c.carbohydrate == (1, MedFloat(46, -3))  # kg
    assert c.meal == 2
    with pytest.raises(DecodeError, match="no field besides"):
        glucose.GlucoseContext.from_bytes(H("00 0100"))
    f = glucose.GlucoseFeature.from_bytes(H("2104"))
    assert f.features == (glucose.GlucoseFeatureBits.LOW_BATTERY_DETECTION
                          | glucose.GlucoseFeatureBits.RESULT_HIGH_LOW_DETECTION
                          | glucose.GlucoseFeatureBits.MULTIPLE_BOND)


# -- RACP ---------------------------------------------------------------------------------

def test_racp_requests_and_responses() -> None:
    req = racp.RacpRequest.from_bytes(H("0103 01 2A00"))
    assert (req.op_code, req.operator, req.values) == (
        racp.OpCode.REPORT_STORED_RECORDS, racp.Operator.GREATER_OR_EQUAL, (42,))
    assert bytes(racp.report_from(42)) == H("0103012A00")
    timed = racp.RacpRequest.from_bytes(H("0104 02 E5070B190C0000 E5070B190D0000"), "glucose")
    assert timed.values[1] == datetime(2021, 11, 25, 13, 0)
    assert racp.decode_racp(H("0600 0101")) == racp.RacpResponse(
        racp.OpCode.RESPONSE_CODE, request_op_code=1, response=racp.ResponseCode.SUCCESS)
    assert racp.decode_racp(H("0500 0700")).number_of_records == 7
    with pytest.raises(DecodeError, match="filter type 0x02 is not defined for the cgm"):
        racp.RacpRequest.from_bytes(H("0104 02 E5070B190C0000 E5070B190D0000"), "cgm")
    with pytest.raises(DecodeError, match="minimum is greater"):
        racp.RacpRequest.from_bytes(H("0104 01 0500 0400"))
    with pytest.raises(DecodeError, match="abort takes the Null operator"):
        racp.RacpRequest.from_bytes(H("0301"))


# -- CGM ----------------------------------------------------------------------------------

def test_cgm_crc_is_mcrf4xx_little_endian() -> None:
    assert crc16_mcrf4xx(b"123456789") == 0x6F91
    m = cgm.CgmMeasurement.from_bytes(H("08 00 0C10 0600 596F"), crc=True)
    [rec] = m.records
    assert (rec.glucose.value, rec.time_offset_min, rec.has_crc) == (120.0, 6, True)


def test_cgm_wrong_crc_is_rejected() -> None:
    with pytest.raises(DecodeError, match=r"E2E-CRC mismatch \(sent 0x6F5A, computed 0x6F59\)"):
        cgm.CgmMeasurement.from_bytes(H("08 00 0C10 0600 5A6F"))


def test_cgm_missing_crc_is_rejected_when_supported() -> None:
    assert cgm.CgmMeasurement.from_bytes(H("06 00 0C10 0600"), crc=False).records
    with pytest.raises(DecodeError, match="E2E-CRC is supported but missing") as info:
        cgm.CgmMeasurement.from_bytes(H("06 00 0C10 0600"), crc=True)
    assert info.value.reason == "missing_crc"


def test_cgm_multiple_records_with_annunciation_in_gss_order() -> None:
    # record 1: status + warning octets (flags 0xA0), trend; record 2: plain
    rec1 = cgm.CgmRecord(MedFloat(55, 0), 10, status=0x02, warning=0x04, trend=MedFloat(-2, 0))
    rec2 = cgm.CgmRecord(MedFloat(60, 0), 15)
    payload = rec1.encode() + rec2.encode()
    assert payload[:2] == H("0A A1")  # size 10, flags trend|warning|status
    m = cgm.CgmMeasurement.from_bytes(payload)
    assert m.records[0].annunciation == (cgm.Annunciation.DEVICE_BATTERY_LOW
                                         | cgm.Annunciation.BELOW_HYPO)
    assert [r.record for r in m.readings()] == [10, 15]
    start = datetime(2026, 11, 1, 8, 0)
    assert m.readings(start)[1].device_time == datetime(2026, 11, 1, 8, 15)


def test_cgm_inconsistent_size_is_rejected() -> None:
    with pytest.raises(DecodeError, match="size 7 does not match its flags"):
        cgm.CgmMeasurement.from_bytes(H("07 00 0C10 0600 00"))


def test_cgm_feature_crc_field() -> None:
    no_crc = cgm.CgmFeature(cgm.CgmFeatureBits.TREND)
    assert bytes(no_crc)[-2:] == H("FFFF")
    with_crc = cgm.CgmFeature(cgm.CgmFeatureBits.E2E_CRC | cgm.CgmFeatureBits.TREND)
    assert cgm.CgmFeature.from_bytes(bytes(with_crc)).e2e_crc
    broken = bytearray(bytes(with_crc))
    broken[-1] ^= 0xFF
    with pytest.raises(DecodeError, match="CGM Feature: E2E-CRC mismatch"):
        cgm.CgmFeature.from_bytes(bytes(broken))


def test_cgm_session_start_time_zone_is_in_quarter_hours() -> None:
    # 2026-11-01 08:00:00, zone +4 (= +60 min), DST 0; unknown zone −128 / DST 255
    sst = cgm.SessionStartTime.from_bytes(H("EA070B01080000 04 00"))
    assert (sst.time_zone_min, sst.dst_offset_min) == (60, 0)
    assert sst.start_utc is not None
    assert sst.start_utc.hour == 7
    unknown = cgm.SessionStartTime.from_bytes(H("EA070B01080000 80 FF"))
    assert (unknown.time_zone_min, unknown.dst_offset_min, unknown.start_utc) == (None, None, None)
    with pytest.raises(DecodeError, match="DST offset 3 is reserved"):
        cgm.SessionStartTime.from_bytes(H("EA070B01080000 04 03"))


def test_cgm_socp_with_crc() -> None:
    body = H("01 05")  # set communication interval to 5 min
    value = body + crc16_mcrf4xx(body).to_bytes(2, "little")
    op = cgm.SpecificOpsControlPoint.from_bytes(value, crc=True)
    assert (op.op, op.interval_min, op.has_crc) == (cgm.SocpOp.SET_INTERVAL, 5, True)
    with pytest.raises(DecodeError, match="E2E-CRC is supported but missing"):
        cgm.SpecificOpsControlPoint.from_bytes(body, crc=True)
    assert cgm.SessionRunTime.from_bytes(H("A800")).hours == 168


# -- PLX, thermometer, BP, battery, DIS, time ---------------------------------------------

def test_plx_spot_check_with_timestamp_and_status() -> None:
    m = pulse_oximeter.PlxSpotCheck.from_bytes(H("03 6100 4800 EA070B01080000 8000"))
    assert (m.spo2.value, m.pulse_rate.value) == (97.0, 72.0)
    assert m.measurement_status == pulse_oximeter.MeasurementStatus.VALIDATED
    assert {r.metric: r.value for r in m.readings()} == {"spo2": 97.0, "pulse_rate": 72.0}


def test_plx_continuous_unavailable_values_are_nan_states() -> None:
    m = pulse_oximeter.PlxContinuous.from_bytes(H("00 FF07 4800"))
    assert m.spo2.special is Special.NAN
    assert [r.metric for r in m.readings()] == ["pulse_rate"]


def test_temperature_celsius_and_fahrenheit() -> None:
    c = thermometer.TemperatureMeasurement.from_bytes(H("00 B00E00FE"))
    assert c.celsius == 37.6
    f = thermometer.TemperatureMeasurement.from_bytes(H("05 E00300FF 02"))  # 99.2 °F, body
    assert f.celsius == pytest.approx(37.333333333, abs=1e-6)
    assert f.temperature_type == 2
    assert f.readings()[0].unit == "Cel"


def test_blood_pressure_kpa_converted_and_nan_map() -> None:
    # 16.0 kPa / 10.7 kPa / NaN MAP, pulse 60
    m = blood_pressure.BloodPressureMeasurement.from_bytes(H("05 A0F0 6BF0 FF07 3C00"))
    values = {r.metric: r.value for r in m.readings()}
    assert values["systolic_bp"] == pytest.approx(120.01, abs=0.01)
    assert values["diastolic_bp"] == pytest.approx(80.26, abs=0.01)
    assert "mean_arterial_pressure" not in values
    assert values["pulse_rate"] == 60.0
    with pytest.raises(DecodeError, match="bits 11 are reserved"):
        blood_pressure.BloodPressureMeasurement.from_bytes(H("10 7800 5000 5A00 1800"))


def test_battery_and_dis() -> None:
    assert battery.BatteryLevel.from_bytes(b"\x55").readings()[0].value == 85.0
    with pytest.raises(DecodeError, match="101 % is reserved"):
        battery.BatteryLevel.from_bytes(b"\x65")
    assert device_information.DisString.from_bytes(b"H10\x00").text == "H10"
    with pytest.raises(DecodeError, match="not valid UTF-8"):
        device_information.DisString.from_bytes(b"\xff\xfe")
    pnp = device_information.PnpId.from_bytes(H("01 6B00 0100 0200"))
    assert (pnp.vendor_id, pnp.product_id) == (0x6B, 1)


def test_current_time_day_of_week_must_match() -> None:
    ok = CurrentTime.from_bytes(H("EA070B19 0C0000 03 80 01"))  # 2026-11-25 is a Wednesday
    assert ok.day_of_week == 3
    with pytest.raises(DecodeError, match="day of week 4 does not match 2026-11-25"):
        CurrentTime.from_bytes(H("EA070B19 0C0000 04 80 01"))


# -- Polar PMD ----------------------------------------------------------------------------

def test_polar_ecg_frame_from_the_sdk_test() -> None:
    frame = polar_pmd.EcgFrame.from_bytes(H("00 0094357700000000 00 0280FF 028000"))
    assert frame.timestamp_ns == 2_000_000_000
    assert frame.samples == (-32766, 32770)
    seg = frame.segment(130.0)
    assert seg.unit == "uV"
    assert seg.samples == [-32766.0, 32770.0]


def test_polar_start_command_and_settings_response() -> None:
    assert bytes(polar_pmd.start_ecg()) == H("02 00 00 01 82 00 01 01 0E 00")
    resp = polar_pmd.decode_control_point(H("F0 01 00 00 00 00 01 82 00 01 01 0E 00"))
    assert isinstance(resp, polar_pmd.PmdResponse)
    assert resp.settings == {polar_pmd.SettingType.SAMPLE_RATE: (130,),
                             polar_pmd.SettingType.RESOLUTION: (14,)}
    assert polar_pmd.decode_control_point(H("0F 05 00")).ecg


@pytest.mark.parametrize(
    ("payload", "message"),
    [("02 0094357700000000 00 000000", "measurement type ACC is not ECG"),
     ("00 0094357700000000 80 000000", "delta-compressed"),
     ("00 0094357700000000 01 000000", "frame type 1 is not supported"),
     ("00 0094357700000000 00 00", "not a multiple of 3"),
     ("00 0094357700000000 00", "no samples")],
)
def test_polar_ecg_rejects(payload: str, message: str) -> None:
    with pytest.raises(DecodeError, match=re.escape(message)):
        polar_pmd.EcgFrame.from_bytes(H(payload))


def test_registry_uses_context_for_crc_and_service() -> None:
    with pytest.raises(DecodeError, match="supported but missing"):
        decode("0x2AA7", H("06000C100600"), DecodeContext(e2e_crc_supported=True))
    with pytest.raises(DecodeError, match="no decoder for characteristic 0x1234"):
        decode("0x1234", b"\x00")
    with pytest.raises(DecodeError, match="neither a 16-bit UUID"):
        decode("heart", b"\x00")
    full = decode("00002a37-0000-1000-8000-00805f9b34fb", H("0048"))
    assert full.to_json()["characteristic"] == "0x2A37"
