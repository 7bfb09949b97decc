"""Tell processes that cache credentials (the ingest service) that one changed: a token
revoked, a gateway retired or re-enrolled. PostgreSQL NOTIFY, delivered when the
changing transaction commits; a cache also expires entries on its own (a listener that was
disconnected misses notices)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from psycopg import AsyncConnection

CHANNEL = "trialwire_credentials"


def token_changed(token_id: str) -> str:
    return f"token:{token_id}"


def gateway_changed(gateway_id: str) -> str:
    return f"gateway:{gateway_id}"


async def announce(conn: AsyncConnection[Any], change: str) -> None:
    """Queue a notice of ``change`` (see :func:`token_changed`, :func:`gateway_changed`);
    it is sent if and when the caller's transaction commits."""
    await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, change))


async def listen(conn: AsyncConnection[Any]) -> None:
    """Start receiving notices on ``conn`` (autocommit, a connection of its own)."""
    await conn.execute(f"LISTEN {CHANNEL}")


async def changes(conn: AsyncConnection[Any]) -> AsyncIterator[str]:
    """Every change announced since :func:`listen`."""
    async for notice in conn.notifies():
        yield notice.payload
