"""The device_never_seen flags of enrolled devices with no data (``stream/flags/device_never_seen.py``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from devices.catalog import CATALOG
from storage.liveness import UnseenDevice
from stream.flags.device_never_seen import first_data_within_s, never_seen_flags

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)


def test_one_flag_per_device_from_its_enrollment_until_now() -> None:
    enrolled = NOW - timedelta(minutes=40)
    [flag] = never_seen_flags([UnseenDevice("ST-1", "S-1", "C-1", "cgm", "GW-1", enrolled)], NOW)
    assert (flag.subject, flag.device_id, flag.rule_id, flag.window_start, flag.window_end) == (
        "S-1", "C-1", "device_never_seen", enrolled, NOW)
    assert flag.details == {"gateway": "GW-1", "device_type": "cgm", "enrolled_for_s": 2400.0}


def test_a_later_check_keeps_the_window_start_so_the_flag_is_extended_not_raised_again() -> None:
    device = UnseenDevice("ST-1", "S-1", "C-1", "cgm", "GW-1", NOW - timedelta(hours=1))
    [first] = never_seen_flags([device], NOW)
    [later] = never_seen_flags([device], NOW + timedelta(seconds=15))
    assert later.window_start == first.window_start and later.window_end > first.window_end


def test_every_catalog_type_has_a_first_data_time_and_streaming_ones_are_short() -> None:
    within = first_data_within_s()
    assert set(within) == {str(t) for t in CATALOG}
    assert within["ecg_patch"] <= 600 and within["smartwatch"] <= 600
    assert within["cgm"] <= 1800 and within["glucose_meter"] == 86_400
