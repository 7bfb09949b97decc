"""Whether the database answers: the readiness probe's query."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection


async def ping(conn: AsyncConnection[Any]) -> None:
    """Run ``SELECT 1``; raises whatever psycopg raises when the database does not answer."""
    await conn.execute("SELECT 1")
