"""Hypothesis strategies producing canonical values of every codec (encode→decode is identity)."""

from __future__ import annotations

from datetime import datetime

from hypothesis import strategies as st

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
from devices.gatt.date_time import AdjustReason, CurrentTime, DateTimeValue
from devices.gatt.ieee11073 import MedFloat, Special

_SFLOAT_RESERVED = {2047, -2048, 2046, -2046, -2047}
_FLOAT_RESERVED = {0x7FFFFF, -0x800000, 0x7FFFFE, -0x7FFFFE, -0x7FFFFF}

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u24 = st.integers(0, 0xFFFFFF)


def sfloat_numbers() -> st.SearchStrategy[MedFloat]:
    return st.builds(MedFloat, st.integers(-2048, 2047), st.integers(-8, 7)).filter(
        lambda m: not (m.exponent == 0 and m.mantissa in _SFLOAT_RESERVED))


def sfloats() -> st.SearchStrategy[MedFloat]:
    return st.one_of(sfloat_numbers(), st.sampled_from(list(Special)).map(MedFloat.state))


def float32s() -> st.SearchStrategy[MedFloat]:
    numbers = st.builds(MedFloat, st.integers(-(1 << 23), (1 << 23) - 1),
                        st.integers(-128, 127)).filter(
        lambda m: not (m.exponent == 0 and m.mantissa in _FLOAT_RESERVED))
    return st.one_of(numbers, st.sampled_from(list(Special)).map(MedFloat.state))


def date_times() -> st.SearchStrategy[datetime]:
    return st.datetimes(min_value=datetime(1582, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)
                        ).map(lambda d: d.replace(microsecond=0))


def heart_rate_measurements() -> st.SearchStrategy[heart_rate.HeartRateMeasurement]:
    return st.builds(
        lambda hr, wide, contact, ee, rr: heart_rate.HeartRateMeasurement(
            hr, contact, ee, tuple(rr), wide or hr > 0xFF),
        st.integers(0, 0xFFFF), st.booleans(), st.sampled_from(list(heart_rate.SensorContact)),
        st.none() | u16, st.lists(u16, max_size=8))


def glucose_measurements() -> st.SearchStrategy[glucose.GlucoseMeasurement]:
    def build(seq, base, offset, conc, unit, stype, loc, status, follows):
        if conc is None:
            unit, stype, loc = glucose.GlucoseUnit.KG_PER_L, None, None
        return glucose.GlucoseMeasurement(seq, base, offset, conc, unit, stype, loc, status, follows)
    return st.builds(build, u16, date_times(), st.none() | st.integers(-32768, 32767),
                     st.none() | sfloats(), st.sampled_from(list(glucose.GlucoseUnit)),
                     st.integers(0, 15), st.integers(0, 15),
                     st.none() | st.integers(0, 0x0FFF).map(glucose.SensorStatus), st.booleans())


def glucose_contexts() -> st.SearchStrategy[glucose.GlucoseContext]:
    return st.builds(
        glucose.GlucoseContext, u16, st.none() | u8, st.none() | st.tuples(u8, sfloats()),
        st.just(1), st.none() | u8, st.none() | st.tuples(u16, u8),
        st.none() | st.tuples(u8, sfloats()), st.booleans(), st.none() | sfloats(),
    ).map(lambda c: glucose.GlucoseContext(
        c.sequence, c.extended_flags, c.carbohydrate, c.meal, c.tester_health, c.exercise,
        c.medication, c.medication_in_litres and c.medication is not None, c.hba1c))


def racp_requests(service: str) -> st.SearchStrategy[racp.RacpRequest]:
    ops = [racp.OpCode.REPORT_STORED_RECORDS, racp.OpCode.DELETE_STORED_RECORDS,
           racp.OpCode.REPORT_NUMBER_OF_RECORDS]
    simple = st.builds(racp.RacpRequest, st.sampled_from(ops),
                       st.sampled_from([racp.Operator.ALL, racp.Operator.FIRST, racp.Operator.LAST]))
    single = st.builds(lambda op, operator, v: racp.RacpRequest(op, operator,
                                                                racp.FilterType.SEQUENCE_NUMBER, (v,)),
                       st.sampled_from(ops), st.sampled_from([racp.Operator.LESS_OR_EQUAL,
                                                              racp.Operator.GREATER_OR_EQUAL]), u16)
    ranged = st.builds(lambda op, a, b: racp.RacpRequest(op, racp.Operator.WITHIN_RANGE,
                                                         racp.FilterType.SEQUENCE_NUMBER,
                                                         (min(a, b), max(a, b))),
                       st.sampled_from(ops), u16, u16)
    out = st.one_of(simple, single, ranged,
                    st.just(racp.RacpRequest(racp.OpCode.ABORT_OPERATION, racp.Operator.NULL)))
    if service == "glucose":
        timed = st.builds(lambda op, a, b: racp.RacpRequest(
            op, racp.Operator.WITHIN_RANGE, racp.FilterType.USER_FACING_TIME,
            (min(a, b), max(a, b))), st.sampled_from(ops), date_times(), date_times())
        out = st.one_of(out, timed)
    return out


def racp_responses() -> st.SearchStrategy[racp.RacpResponse]:
    return st.one_of(
        st.builds(lambda n: racp.RacpResponse(racp.OpCode.NUMBER_OF_RECORDS_RESPONSE,
                                              number_of_records=n), u16),
        st.builds(lambda op, code: racp.RacpResponse(racp.OpCode.RESPONSE_CODE,
                                                     request_op_code=op, response=code),
                  u8, st.sampled_from(list(racp.ResponseCode))))


def cgm_records(crc: bool) -> st.SearchStrategy[cgm.CgmRecord]:
    return st.builds(cgm.CgmRecord, sfloats(), u16, st.none() | u8, st.none() | u8,
                     st.none() | u8, st.none() | sfloats(), st.none() | sfloats(), st.just(crc))


def cgm_measurements() -> st.SearchStrategy[cgm.CgmMeasurement]:
    return st.booleans().flatmap(lambda crc: st.lists(cgm_records(crc), min_size=1, max_size=3)
                                 .map(lambda recs: cgm.CgmMeasurement(tuple(recs))))


def cgm_features() -> st.SearchStrategy[cgm.CgmFeature]:
    return st.builds(cgm.CgmFeature, st.integers(0, 0x1FFFF).map(cgm.CgmFeatureBits),
                     st.integers(0, 15), st.integers(0, 15))


def cgm_statuses() -> st.SearchStrategy[cgm.CgmStatus]:
    return st.builds(cgm.CgmStatus, u16,
                     st.integers(0, 0xFFFFFF).map(lambda v: cgm.Annunciation(v & 0xFF7F3F)),
                     st.booleans())


def session_start_times() -> st.SearchStrategy[cgm.SessionStartTime]:
    return st.builds(cgm.SessionStartTime, st.none() | date_times(),
                     st.none() | st.integers(-48, 56).map(lambda z: z * 15),
                     st.none() | st.sampled_from([0, 30, 60, 120]), st.booleans())


def session_run_times() -> st.SearchStrategy[cgm.SessionRunTime]:
    return st.builds(cgm.SessionRunTime, u16, st.booleans())


def socps() -> st.SearchStrategy[cgm.SpecificOpsControlPoint]:
    op = st.sampled_from(list(cgm.SocpOp))

    def build(op, interval, level, calib, record, request, response, crc):
        S = cgm.SocpOp
        kw: dict = {"has_crc": crc}
        if op in (S.SET_INTERVAL, S.INTERVAL_RESPONSE):
            kw["interval_min"] = interval
        elif op in cgm._SFLOAT_OPS:
            kw["level"] = level
        elif op in cgm._CALIBRATION_OPS:
            kw["calibration"] = calib
        elif op == S.GET_CALIBRATION:
            kw["record_number"] = record
        elif op == S.RESPONSE_CODE:
            kw["request_op"], kw["response"] = request, response
        return cgm.SpecificOpsControlPoint(op, **kw)

    calibration = st.builds(cgm.CalibrationRecord, sfloats(), u16, st.integers(0, 15),
                            st.integers(0, 15), u16, u16, u8)
    return st.builds(build, op, u8, sfloats(), calibration, u16, u8,
                     st.sampled_from(list(cgm.SocpResponseCode)), st.booleans())


def plx_spot_checks() -> st.SearchStrategy[pulse_oximeter.PlxSpotCheck]:
    return st.builds(
        lambda spo2, pr, ts, has_ts, ms, ds, pai, clock: pulse_oximeter.PlxSpotCheck(
            spo2, pr, ts if has_ts else None, has_ts, ms, ds, pai, clock),
        sfloats(), sfloats(), st.none() | date_times(), st.booleans(),
        st.none() | st.integers(0, 0xFFFF).map(lambda v: pulse_oximeter.MeasurementStatus(v & 0xFFE0)),
        st.none() | st.integers(0, 0xFFFF).map(pulse_oximeter.DeviceSensorStatus),
        st.none() | sfloats(), st.booleans())


def plx_continuous() -> st.SearchStrategy[pulse_oximeter.PlxContinuous]:
    pair = st.tuples(sfloats(), sfloats())
    return st.builds(
        pulse_oximeter.PlxContinuous, sfloats(), sfloats(), st.none() | pair, st.none() | pair,
        st.none() | st.integers(0, 0xFFFF).map(lambda v: pulse_oximeter.MeasurementStatus(v & 0xFFE0)),
        st.none() | st.integers(0, 0xFFFF).map(pulse_oximeter.DeviceSensorStatus),
        st.none() | sfloats())


def plx_features() -> st.SearchStrategy[pulse_oximeter.PlxFeatures]:
    return st.builds(lambda f, ms, ds: pulse_oximeter.PlxFeatures(
        f, ms if f & 1 else None, ds if f & 2 else None), u16, u16, u24)


def temperatures() -> st.SearchStrategy[thermometer.TemperatureMeasurement]:
    return st.builds(
        lambda t, f, ts, has_ts, kind: thermometer.TemperatureMeasurement(
            t, f, ts if has_ts else None, has_ts, kind),
        float32s(), st.booleans(), st.none() | date_times(), st.booleans(), st.none() | u8)


def blood_pressures() -> st.SearchStrategy[blood_pressure.BloodPressureMeasurement]:
    return st.builds(
        lambda s, d, m, kpa, ts, has_ts, pr, user, status:
        blood_pressure.BloodPressureMeasurement(s, d, m, kpa, ts if has_ts else None, has_ts, pr,
                                                user, status),
        sfloats(), sfloats(), sfloats(), st.booleans(), st.none() | date_times(), st.booleans(),
        st.none() | sfloats(), st.none() | u8,
        st.none() | st.integers(0, 0x3F).filter(lambda v: (v >> 3) & 3 != 3)
        .map(blood_pressure.BpStatus))


def pmd_settings() -> st.SearchStrategy[dict]:
    S = polar_pmd.SettingType
    value = {S.SAMPLE_RATE: u16, S.RESOLUTION: u16, S.RANGE: u16,
             S.RANGE_MILLIUNIT: st.integers(0, 0xFFFFFFFF), S.CHANNELS: u8,
             S.FACTOR: st.floats(width=32, allow_nan=False), S.SECURITY: st.binary(min_size=16,
                                                                                   max_size=16)}
    return st.dictionaries(st.sampled_from(list(S)), st.integers(1, 3), min_size=1, max_size=4
                           ).flatmap(lambda spec: st.fixed_dictionaries(
                               {k: st.lists(value[k], min_size=n, max_size=n).map(tuple)
                                for k, n in spec.items()}))


def pmd_commands() -> st.SearchStrategy[polar_pmd.PmdCommand]:
    measurement = st.sampled_from(list(polar_pmd.MeasurementType))
    start = st.builds(lambda m, s: polar_pmd.PmdCommand(polar_pmd.PmdOp.START, m, s),
                      measurement, pmd_settings())
    other = st.builds(polar_pmd.PmdCommand,
                      st.sampled_from([o for o in polar_pmd.PmdOp if o != polar_pmd.PmdOp.START]),
                      measurement)
    return st.one_of(start, other)


def pmd_responses() -> st.SearchStrategy[polar_pmd.PmdResponse]:
    return st.builds(polar_pmd.PmdResponse, u8, st.sampled_from(list(polar_pmd.MeasurementType)),
                     st.sampled_from(list(polar_pmd.PmdStatus)), st.booleans(),
                     st.none() | pmd_settings())


def ecg_frames() -> st.SearchStrategy[polar_pmd.EcgFrame]:
    return st.builds(polar_pmd.EcgFrame, st.integers(0, (1 << 64) - 1),
                     st.lists(st.integers(-(1 << 23), (1 << 23) - 1), min_size=1, max_size=80)
                     .map(tuple))


# (name, strategy, decode) for the round-trip test.
ROUND_TRIPS = [
    ("heart_rate", heart_rate_measurements(), heart_rate.HeartRateMeasurement.from_bytes),
    ("body_sensor_location", st.builds(heart_rate.BodySensorLocationValue, u8),
     heart_rate.BodySensorLocationValue.from_bytes),
    ("hr_control_point", st.just(heart_rate.HeartRateControlPoint(1)),
     heart_rate.HeartRateControlPoint.from_bytes),
    ("glucose", glucose_measurements(), glucose.GlucoseMeasurement.from_bytes),
    ("glucose_context", glucose_contexts().filter(
        lambda c: any(x is not None for x in (c.carbohydrate, c.meal, c.tester_health, c.exercise,
                                              c.medication, c.hba1c))),
     glucose.GlucoseContext.from_bytes),
    ("glucose_feature", st.integers(0, 0x7FF).map(
        lambda v: glucose.GlucoseFeature(glucose.GlucoseFeatureBits(v))),
     glucose.GlucoseFeature.from_bytes),
    ("racp_request_glucose", racp_requests("glucose"),
     lambda b: racp.decode_racp(b, "glucose")),
    ("racp_request_cgm", racp_requests("cgm"), lambda b: racp.decode_racp(b, "cgm")),
    ("racp_response", racp_responses(), racp.decode_racp),
    ("cgm_measurement", cgm_measurements(), cgm.CgmMeasurement.from_bytes),
    ("cgm_feature", cgm_features(), cgm.CgmFeature.from_bytes),
    ("cgm_status", cgm_statuses(), cgm.CgmStatus.from_bytes),
    ("cgm_session_start", session_start_times(), cgm.SessionStartTime.from_bytes),
    ("cgm_session_run", session_run_times(), cgm.SessionRunTime.from_bytes),
    ("cgm_socp", socps(), cgm.SpecificOpsControlPoint.from_bytes),
    ("plx_spot_check", plx_spot_checks(), pulse_oximeter.PlxSpotCheck.from_bytes),
    ("plx_continuous", plx_continuous(), pulse_oximeter.PlxContinuous.from_bytes),
    ("plx_features", plx_features(), pulse_oximeter.PlxFeatures.from_bytes),
    ("temperature", temperatures(), thermometer.TemperatureMeasurement.from_bytes),
    ("temperature_type", st.builds(thermometer.TemperatureType, u8),
     thermometer.TemperatureType.from_bytes),
    ("blood_pressure", blood_pressures(), blood_pressure.BloodPressureMeasurement.from_bytes),
    ("bp_feature", st.builds(blood_pressure.BloodPressureFeature, u16),
     blood_pressure.BloodPressureFeature.from_bytes),
    ("battery", st.builds(battery.BatteryLevel, st.integers(0, 100)),
     battery.BatteryLevel.from_bytes),
    ("dis_string", st.builds(device_information.DisString,
                             st.text(max_size=60).filter(lambda t: "\x00" not in t)),
     device_information.DisString.from_bytes),
    ("system_id", st.builds(device_information.SystemId, st.integers(0, (1 << 40) - 1), u24),
     device_information.SystemId.from_bytes),
    ("pnp_id", st.builds(device_information.PnpId, st.sampled_from([1, 2]), u16, u16, u16),
     device_information.PnpId.from_bytes),
    ("date_time", st.builds(DateTimeValue, st.none() | date_times()), DateTimeValue.from_bytes),
    ("current_time", st.builds(
        lambda t, unknown_dow, frac, reason: CurrentTime(
            t, 0 if unknown_dow or t is None else t.isoweekday(), frac, AdjustReason(reason)),
        st.none() | date_times(), st.booleans(), u8, st.integers(0, 15)),
     CurrentTime.from_bytes),
    ("pmd_command", pmd_commands(), polar_pmd.decode_control_point),
    ("pmd_response", pmd_responses(), polar_pmd.decode_control_point),
    ("pmd_features", st.binary(min_size=1, max_size=4).map(polar_pmd.PmdFeatures),
     polar_pmd.decode_control_point),
    ("ecg_frame", ecg_frames(), polar_pmd.EcgFrame.from_bytes),
]
