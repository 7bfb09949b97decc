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
