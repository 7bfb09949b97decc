"""The worker's database access: one lazily opened pool, and a runner that retries a unit
of work with backoff while the database is unreachable (the agent waits; nothing is
acknowledged meanwhile)."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
import stamina
from psycopg_pool import AsyncConnectionPool

from storage.errors import is_retryable
from storage.pool import open_pool
from storage.settings import DatabaseSettings
from stream import metrics
from stream.errors import first_line

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Database:
    def __init__(self, settings: DatabaseSettings, *, retry_backoff_max_s: float = 5.0) -> None:
        self.settings = settings
        self.retry_backoff_max_s = retry_backoff_max_s
        self.pool: AsyncConnectionPool | None = None
        self.failing_since: float | None = None  # monotonic time of the first failure

    async def run(self, what: str,
                  work: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]) -> T:
        """``work`` on a pooled connection, retried with backoff until it succeeds; an
        error storage classifies as permanent is raised at once."""
        async for attempt in stamina.retry_context(
                on=is_retryable, attempts=None, timeout=None, wait_initial=0.25,
                wait_max=self.retry_backoff_max_s, wait_jitter=0.25):
            with attempt:
                try:
                    if self.pool is None:
                        self.pool = await open_pool(self.settings, name="stream")
                    async with self.pool.connection() as conn:
                        result = await work(conn)
                    self.failing_since = None
                    return result
                except Exception as exc:
                    if is_retryable(exc):
                        if self.failing_since is None:
                            self.failing_since = time.monotonic()
                        metrics.DB_RETRIES.inc()
                        logger.warning("%s: database unavailable (%s); retrying", what,
                                       first_line(exc))
                    raise
        raise AssertionError("stamina ends a retry context by returning or raising")

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()
