"""The catch-up benchmark's backlog is shaped like the homes' live traffic."""

from __future__ import annotations

from datetime import UTC, datetime

from deploy.bench.catchup_bench import backlog
from stream.contract.envelope import decode


def test_backlog_is_what_homes_send_in_that_time_in_sending_order() -> None:
    start = datetime(2026, 12, 1, tzinfo=UTC)
    keyed = backlog(2, 1.0, start)
    envelopes = [decode(value) for _, value in keyed]
    watch = [e for e in envelopes if e.device_type == "smartwatch"]
    ecg = [e for e in envelopes if e.device_type == "ecg_patch"]
    assert len(watch) == 2 * 60  # an envelope per second per home
    assert len(ecg) == 2 * int(60 * 130 / 73)  # one 73-sample frame at 130 Hz each
    assert {k for k, _ in keyed} == {b"S-1", b"S-2"}
    assert all(k == e.subject.encode() for (k, _), e in zip(keyed, envelopes, strict=True))
    sent = [e.sent_at for e in envelopes]
    assert sent == sorted(sent)
    assert all(start <= t < datetime(2026, 12, 1, 0, 1, 1, tzinfo=UTC) for t in sent)
