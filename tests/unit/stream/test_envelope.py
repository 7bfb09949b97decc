"""The wire envelope: committed schema, strict decoding."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from stream.contract import envelope

SCHEMA = Path(envelope.__file__).parent / "schema" / "envelope.v1.json"
GOOD = {
    "batch_id": "5b6f0a0e-2f0c-4a55-9a4b-1f0a6e3c9d11", "gateway_id": "GW-1", "device_id": "D-1",
    "device_type": "smartwatch", "subject": "S-001", "seq_from": 0, "seq_to": 1,
    "sent_at": "2026-11-25T08:00:02Z",
    "readings": [{"seq": 0, "metric": "heart_rate", "value": 72, "unit": "/min",
                  "time": "2026-11-25T08:00:00Z", "received_at": "2026-11-25T08:00:00.1Z"}],
}


def test_committed_schema_matches_the_code() -> None:
    assert json.loads(SCHEMA.read_text()) == envelope.json_schema()


def test_round_trip_and_defaults() -> None:
    env = envelope.decode(json.dumps(GOOD).encode())
    assert env.schema_version == envelope.SCHEMA_VERSION
    assert env.readings[0].quality == 0
    assert envelope.decode(envelope.encode(env)) == env


@pytest.mark.parametrize(
    ("patch", "message"),
    [({"subject": "Jane Doe"}, "subject"),
     ({"seq_from": -1}, "seq_from"),
     ({"sent_at": "2026-11-25T08:00:02"}, "timezone"),
     ({"readings": [{"seq": 0}]}, "missing required field")],
)
def test_bad_envelopes_are_refused_with_the_field(patch: dict, message: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=message):
        envelope.decode(json.dumps({**GOOD, **patch}).encode())


def _reading(**patch: object) -> dict:
    return {**GOOD["readings"][0], **patch}  # type: ignore[index]


@pytest.mark.parametrize(
    ("patch", "where"),
    [({"seq_to": 2**63}, "seq_to"),  # one past bigint: once stored as a crash of the worker
     ({"seq_from": 2**64}, "seq_from"),
     ({"readings": [_reading(quality=2**31)]}, "quality"),  # once stored as -2147483648
     ({"readings": [_reading(seq=2**63)]}, "seq"),
     ({"readings": [_reading(value="__INF__")]}, "value"),  # 1e999: Infinity
     ({"readings": [_reading(metric="heart\u0000rate")]}, "metric"),  # NUL
     ({"readings": [_reading(unit="")]}, "unit"),
     ({"readings": [_reading(specimen="x" * 65)]}, "specimen"),
     ({"device_type": "watch\u0000"}, "device_type"),
     ({"batch_id": "a\u0000b"}, "batch_id"),
     ({"clock": {"offset_ms": 1e300}}, "offset_ms"),  # once stored as Infinity (float4)
     ({"clock": {"offset_ms": 0, "drift_ppm": "__INF__"}}, "drift_ppm"),
     ({"segments": [{"seq": 0, "lead": "I", "time": "2026-11-25T08:00:00Z",
                     "sampling_rate_hz": 130, "samples": [1.0, 4e38],
                     "received_at": "2026-11-25T08:00:00Z"}]}, "samples"),
     ({"segments": [{"seq": 0, "lead": "I", "time": "2026-11-25T08:00:00Z",
                     "sampling_rate_hz": "__INF__", "samples": [1.0],
                     "received_at": "2026-11-25T08:00:00Z"}]}, "sampling_rate_hz")],
)
def test_every_field_is_range_checked_at_the_boundary(patch: dict, where: str) -> None:
    """Integers within their column types, finite floats that fit float4 where stored so,
    text without NUL or control characters: refused on decoding, with the field's path."""
    raw = json.dumps({**GOOD, **patch}).replace('"__INF__"', "1e999")
    with pytest.raises(msgspec.ValidationError, match=where):
        envelope.decode(raw.encode())


def test_the_largest_storable_values_still_decode() -> None:
    env = envelope.decode(json.dumps({**GOOD, "seq_to": 2**63 - 1, "readings": [
        _reading(seq=2**63 - 1, quality=2**31 - 1)], "clock": {"offset_ms": -1e13}}).encode())
    assert env.seq_to == 2**63 - 1
    assert env.readings[0].quality == 2**31 - 1
