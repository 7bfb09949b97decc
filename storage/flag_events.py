"""Change notices of flags and their alert deliveries over PostgreSQL LISTEN/NOTIFY (the
triggers of migration 0015): what the live monitoring page is told so it can re-read.
A notice names the study, the flag and what changed, nothing more."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from psycopg import AsyncConnection

CHANNEL = "trialwire_flag_events"


@dataclass(frozen=True, slots=True)
class FlagEvent:
    study: str
    flag: int
    kind: str  # flag | delivery
    status: str


class _Notice(msgspec.Struct, frozen=True):
    study: str
    flag: int
    kind: str
    status: str


async def listen(conn: AsyncConnection[Any]) -> None:
    """Subscribe ``conn`` (autocommit, dedicated to listening) to the notices."""
    await conn.execute(f"LISTEN {CHANNEL}")


def parse(payload: str) -> FlagEvent | None:
    """The notice in ``payload``, or None if it is not one (never raises)."""
    try:
        notice = msgspec.json.decode(payload, type=_Notice)
    except msgspec.DecodeError:
        return None
    return FlagEvent(notice.study, notice.flag, notice.kind, notice.status)
