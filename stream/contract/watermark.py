"""Persisted watermarks: what the sink tells each gateway it has safely stored.

Published by the stream sink to the watermarks topic, keyed by gateway id, after the
database transaction commits. ``devices`` maps device id → the highest gateway sequence
(``Envelope.seq_to``) below which everything is persisted; messages are cumulative, so
the latest one for a gateway says it all, and applying one twice is harmless.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated

import msgspec

logger = logging.getLogger(__name__)


class Watermark(msgspec.Struct, frozen=True, kw_only=True):
    gateway_id: str
    devices: dict[str, int]
    at: Annotated[datetime, msgspec.Meta(tz=True)]


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Watermark)


def encode(watermark: Watermark) -> bytes:
    return _encoder.encode(watermark)


def decode(data: bytes) -> Watermark:
    return _decoder.decode(data)


def decode_or_none(data: bytes | None) -> Watermark | None:
    """A watermark message, or None (logged) for one that does not decode: a reader skips
    it and goes on."""
    try:
        return _decoder.decode(data or b"")
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        logger.warning("skipping a malformed watermark message: %s", exc)
        return None
