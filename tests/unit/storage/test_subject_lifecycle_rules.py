"""The subject lifecycle's pure rules: which status changes are allowed
(``storage/subject_lifecycle.py``) and which envelopes a subject who stopped collecting
still gives (``stream/validation/collection.py``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from storage.subject_lifecycle import LifecycleError, check_transition
from stream.contract.envelope import Envelope, WireReading
from stream.validation.collection import collection_problem

SINCE = datetime(2026, 12, 7, 10, tzinfo=UTC)


@pytest.mark.parametrize(("current", "to"), [
    ("screening", "active"), ("screening", "withdrawn"), ("active", "paused"),
    ("paused", "active"), ("active", "withdrawn"), ("paused", "completed")])
def test_allowed_changes(current: str, to: str) -> None:
    check_transition(current, to)


@pytest.mark.parametrize(("current", "to", "reason"), [
    ("withdrawn", "active", "not_allowed"), ("completed", "paused", "not_allowed"),
    ("screening", "paused", "not_allowed"), ("active", "active", "unchanged"),
    ("active", "retired", "unknown_status")])
def test_refused_changes_say_why(current: str, to: str, reason: str) -> None:
    with pytest.raises(LifecycleError) as refused:
        check_transition(current, to)
    assert refused.value.reason == reason


def _envelope(*offsets_s: float) -> Envelope:
    readings = [WireReading(seq=i, metric="heart_rate", value=70.0, unit="/min",
                            time=SINCE + timedelta(seconds=s), received_at=SINCE)
                for i, s in enumerate(offsets_s)]
    return Envelope(batch_id="b", gateway_id="GW-1", device_id="W-1", device_type="smartwatch",
                    subject="S-1", seq_from=0, seq_to=max(0, len(readings) - 1),
                    sent_at=SINCE, readings=readings)


def test_a_stopped_subject_gives_only_what_was_measured_before_under_retain() -> None:
    assert collection_problem(_envelope(-5, -1), None) is None
    assert collection_problem(_envelope(-5, -1), ("withdrawn", SINCE, "retain")) is None
    refused = collection_problem(_envelope(-5, 1), ("withdrawn", SINCE, "retain"))
    assert refused is not None and "nothing measured from then on" in refused
    paused = collection_problem(_envelope(3), ("paused", SINCE, "retain"))
    assert paused is not None and "paused" in paused


def test_under_the_delete_policy_a_withdrawn_subject_gives_nothing_at_all() -> None:
    refused = collection_problem(_envelope(-60), ("withdrawn", SINCE, "delete"))
    assert refused is not None and "deletes their data" in refused
