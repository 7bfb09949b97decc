"""The gateway_offline flags of silent gateways (``stream/flags/gateway_offline.py``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from storage.liveness import SilentGateway
from stream.flags.gateway_offline import offline_flags

NOW = datetime(2026, 12, 7, 12, tzinfo=UTC)


def test_one_flag_per_subject_from_the_last_time_heard_until_now() -> None:
    seen = NOW - timedelta(minutes=5)
    flags = offline_flags([SilentGateway("GW-1", "ST-1", ["S-1", "S-2"], seen)], NOW)
    assert [(f.subject, f.window_start, f.window_end, f.rule_id, f.device_id) for f in flags] == [
        ("S-1", seen, NOW, "gateway_offline", None), ("S-2", seen, NOW, "gateway_offline", None)]
    assert flags[0].details == {"gateway": "GW-1", "silent_s": 300.0}


def test_a_later_check_keeps_the_window_start_so_the_flag_is_extended_not_raised_again() -> None:
    seen = NOW - timedelta(minutes=5)
    [first] = offline_flags([SilentGateway("GW-1", "ST-1", ["S-1"], seen)], NOW)
    [later] = offline_flags([SilentGateway("GW-1", "ST-1", ["S-1"], seen)],
                            NOW + timedelta(seconds=15))
    assert later.window_start == first.window_start and later.window_end > first.window_end
