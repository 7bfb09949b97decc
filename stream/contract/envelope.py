"""The wire envelope: the Kafka value every gateway sends (JSON via msgspec, schema v1).

One envelope = one batch of readings from one device, keyed by subject code so a
subject's data stays ordered. ``seq_from``/``seq_to`` is the gateway's own monotonic
per-device sequence range (its spool ids): the sink reports persisted watermarks in it,
and the gateway deletes its spool up to them. Each reading's ``seq`` is its natural-key
sequence: the device's record number for stored records (so a backfilled copy equals the
live one), else the gateway sequence. The JSON Schema is committed in
``stream/contract/schema/envelope.v1.json`` (a test keeps it equal to this code).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

SCHEMA_VERSION = 1

Code = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
NonNegative = Annotated[int, msgspec.Meta(ge=0)]
UtcTime = Annotated[datetime, msgspec.Meta(tz=True)]  # naive times are refused


class WireReading(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One normalized reading (metric vocabulary, canonical UCUM unit)."""

    seq: NonNegative
    metric: str
    value: float
    unit: str
    time: UtcTime  # measured
    received_at: UtcTime  # gateway receive time
    quality: NonNegative = 0
    backfilled: bool = False
    specimen: str | None = None
    record: int | None = None  # the device's own record key, when it has one


class WireSegment(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A waveform segment (ECG): samples in ``unit`` at ``sampling_rate_hz`` from ``time``."""

    seq: NonNegative
    lead: str
    time: UtcTime  # first sample
    sampling_rate_hz: Annotated[float, msgspec.Meta(gt=0)]
    samples: list[float]
    received_at: UtcTime
    unit: str = "uV"
    quality: NonNegative = 0


class ClockEstimate(msgspec.Struct, frozen=True, kw_only=True):
    """The gateway's estimate of the device clock: device time − UTC, and its drift."""

    offset_ms: float
    drift_ppm: float = 0.0
    samples: NonNegative = 0


class Envelope(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    schema_version: Annotated[int, msgspec.Meta(ge=1)] = SCHEMA_VERSION
    batch_id: str  # UUID; unique per batch, re-sent batches keep it
    gateway_id: Code
    device_id: Code
    device_type: str
    subject: Code  # pseudonymous subject code, never a name
    seq_from: NonNegative
    seq_to: NonNegative
    sent_at: UtcTime
    readings: list[WireReading] = []
    segments: list[WireSegment] = []
    clock: ClockEstimate | None = None


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Envelope)


def encode(envelope: Envelope) -> bytes:
    return _encoder.encode(envelope)


def decode(data: bytes) -> Envelope:
    """Decode and type-check; raises ``msgspec.ValidationError``/``DecodeError`` on bad input."""
    return _decoder.decode(data)


def json_schema() -> dict[str, object]:
    return msgspec.json.schema(Envelope)
