"""Async connection pool and single connections, configured once from DatabaseSettings."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from storage.settings import DatabaseSettings


def _configure_kwargs() -> dict[str, Any]:
    # Every session runs in UTC so timestamps never depend on the server's zone.
    return {"options": "-c timezone=UTC"}


async def connect(dsn: str, *, autocommit: bool = False) -> psycopg.AsyncConnection[Any]:
    """One async connection (for CLI commands, migrations and tests)."""
    return await psycopg.AsyncConnection.connect(dsn, autocommit=autocommit,
                                                 **_configure_kwargs())


async def open_pool(settings: DatabaseSettings, *, name: str = "trialwire") -> AsyncConnectionPool:
    """Open and return a pool; the caller closes it (``await pool.close()``)."""
    pool = AsyncConnectionPool(
        settings.dsn(),
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        kwargs=_configure_kwargs(),
        timeout=settings.connect_timeout_s,
        name=name,
        open=False,
    )
    await pool.open(wait=True, timeout=settings.connect_timeout_s)
    return pool
