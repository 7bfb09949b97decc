"""A raised flag as stored and published: what the flags topic carries (JSON)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

UtcTime = Annotated[datetime, msgspec.Meta(tz=True)]


class Flag(msgspec.Struct, frozen=True, kw_only=True):
    study: str
    subject: str  # pseudonymous subject code
    device_id: str | None
    metric: str | None
    rule_id: str
    rule_version: int
    severity: str
    window_start: UtcTime
    window_end: UtcTime
    raised_at: UtcTime  # event time at which the rule's criterion was met
    raised_on: Literal["live", "backfill"]
    closed: bool = False
    trigger_values: list[tuple[UtcTime, float]] = []
    details: dict[str, float | str] = {}
    flag_id: int | None = None  # the database id once stored


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Flag)


def encode(flag: Flag) -> bytes:
    return _encoder.encode(flag)


def decode(data: bytes) -> Flag:
    return _decoder.decode(data)
