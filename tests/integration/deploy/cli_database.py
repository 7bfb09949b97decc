"""For the CLI tests: the database set up and read back from a synchronous test (the
commands under test run their own event loops, so the test itself cannot be async)."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg

from deploy.bench.seed import seed_study
from storage import audit


def seed(dsn: str, *, subjects: int) -> None:
    async def run() -> None:
        async with await psycopg.AsyncConnection.connect(dsn) as conn:
            await seed_study(conn, subjects=subjects)
    asyncio.run(run())


def trail(dsn: str, *, entity_type: str | None = None,
          entity_id: str | None = None) -> list[dict[str, Any]]:
    """Audit entries, newest first."""
    async def run() -> list[dict[str, Any]]:
        async with await psycopg.AsyncConnection.connect(dsn) as conn:
            return await audit.entries(conn, entity_type=entity_type, entity_id=entity_id)
    return asyncio.run(run())
