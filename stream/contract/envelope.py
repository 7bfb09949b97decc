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

import re
from datetime import datetime
from typing import Annotated

import msgspec

SCHEMA_VERSION = 1

# Ranges are those of the columns the values land in (``bigint``, ``integer``, ``real``),
# so nothing that decodes can overflow a column or be stored as something else.
BIGINT_MAX = 2**63 - 1
INTEGER_MAX = 2**31 - 1
REAL_MAX = 3.4e38  # float4: a larger finite value would be stored as Infinity

Code = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
# Free text that ends up in a column: printable, no NUL or control characters. The pattern
# is checked apart from msgspec's decoding (``decode``), where it cost half of the time.
TEXT_PATTERN = r"^[^\x00-\x1f\x7f]{1,64}$"
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=64,
                                   extra_json_schema={"pattern": TEXT_PATTERN})]
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
Sequence = Annotated[int, msgspec.Meta(ge=0, le=BIGINT_MAX)]
QualityBits = Annotated[int, msgspec.Meta(ge=0, le=INTEGER_MAX)]
Finite = Annotated[float, msgspec.Meta(ge=-1e300, le=1e300)]  # no NaN, no Infinity
Sample = Annotated[float, msgspec.Meta(ge=-REAL_MAX, le=REAL_MAX)]
UtcTime = Annotated[datetime, msgspec.Meta(tz=True)]  # naive times are refused
MAX_ITEMS = 100_000  # readings or segments per envelope; samples per segment


class WireReading(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One normalized reading (metric vocabulary, canonical UCUM unit)."""

    seq: Sequence
    metric: Text
    value: Finite
    unit: Text
    time: UtcTime  # measured
    received_at: UtcTime  # gateway receive time
    quality: QualityBits = 0
    backfilled: bool = False
    specimen: Text | None = None
    record: Sequence | None = None  # the device's own record key, when it has one


class WireSegment(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A waveform segment (ECG): samples in ``unit`` at ``sampling_rate_hz`` from ``time``."""

    seq: Sequence
    lead: Text
    time: UtcTime  # first sample
    sampling_rate_hz: Annotated[float, msgspec.Meta(gt=0, le=1e6)]
    samples: Annotated[list[Sample], msgspec.Meta(max_length=MAX_ITEMS)]
    received_at: UtcTime
    unit: Text = "uV"
    quality: QualityBits = 0


class ClockEstimate(msgspec.Struct, frozen=True, kw_only=True):
    """The gateway's estimate of the device clock: device time − UTC, and its drift."""

    # ±1e13 ms is 300 years: any device clock, set or not, and within a float4 column.
    offset_ms: Annotated[float, msgspec.Meta(ge=-1e13, le=1e13)]
    drift_ppm: Annotated[float, msgspec.Meta(ge=-1e6, le=1e6)] = 0.0
    samples: QualityBits = 0


class DroppedData(msgspec.Struct, frozen=True, kw_only=True):
    """Items of this envelope's sequence range that the gateway's spool dropped over its
    disk budget: reported in place of the data, so the loss is visible (a ``data_dropped``
    flag) and the persisted watermark passes the range instead of waiting for it."""

    items: Annotated[int, msgspec.Meta(ge=1, le=INTEGER_MAX)]
    first: UtcTime  # measured time of the first dropped item
    last: UtcTime


class Envelope(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    schema_version: Annotated[int, msgspec.Meta(ge=1, le=INTEGER_MAX)] = SCHEMA_VERSION
    batch_id: Code  # UUID; unique per batch, re-sent batches keep it
    gateway_id: Code
    device_id: Code
    device_type: Code
    subject: Code  # pseudonymous subject code, never a name
    seq_from: Sequence
    seq_to: Sequence
    sent_at: UtcTime
    readings: Annotated[list[WireReading], msgspec.Meta(max_length=MAX_ITEMS)] = []
    segments: Annotated[list[WireSegment], msgspec.Meta(max_length=MAX_ITEMS)] = []
    clock: ClockEstimate | None = None
    dropped: DroppedData | None = None  # a loss report (readings and segments empty)
    # The first batch of this device from a new spool (a new or replaced hub): nothing of
    # this gateway and device below seq_from is still to come.
    starts_spool: bool = False


class EnvelopeHeader(msgspec.Struct, frozen=True, kw_only=True):
    """Who sent an envelope and which range it covers, read on its own from one that fails
    to decode whole: its dead letter then counts as handling that range (the gateway stops
    re-sending what can never be stored)."""

    gateway_id: Code
    device_id: Code
    seq_from: Sequence
    seq_to: Sequence


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Envelope)
_header_decoder = msgspec.json.Decoder(EnvelopeHeader)


def encode(envelope: Envelope) -> bytes:
    return _encoder.encode(envelope)


def decode(data: bytes) -> Envelope:
    """Decode and type-check; raises ``msgspec.ValidationError``/``DecodeError`` on bad input."""
    envelope = _decoder.decode(data)
    # JSON holds a control character in a string only as an escape (RFC 8259 §7; msgspec
    # refuses a raw one), DEL only as itself: a body with neither has no text to check.
    if b"\\" in data or b"\x7f" in data:
        _check_text(envelope)
    return envelope


def _check_text(envelope: Envelope) -> None:
    """Raise as msgspec would for a ``Text`` field holding a control character."""
    fields: list[tuple[str, str | None]] = []
    for i, r in enumerate(envelope.readings):
        fields += [(f"readings[{i}].metric", r.metric), (f"readings[{i}].unit", r.unit),
                   (f"readings[{i}].specimen", r.specimen)]
    for i, s in enumerate(envelope.segments):
        fields += [(f"segments[{i}].lead", s.lead), (f"segments[{i}].unit", s.unit)]
    for path, value in fields:
        if value is not None and _CONTROL.search(value):
            raise msgspec.ValidationError(
                f"Expected `str` matching regex {TEXT_PATTERN!r} - at `$.{path}`")


def decode_header(data: bytes) -> EnvelopeHeader | None:
    """The header of an envelope whose other fields may be invalid; None if it has none
    (or an impossible range)."""
    try:
        header = _header_decoder.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    return header if header.seq_from <= header.seq_to else None


def json_schema() -> dict[str, object]:
    return msgspec.json.schema(Envelope)
