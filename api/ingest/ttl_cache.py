"""A small async cache in front of database look-ups, for the ingest service's per-request
checks (tokens, gateway enrollments) so that an upload does not touch the database.

- Entries expire after ``ttl_s`` (``negative_ttl_s`` for "not found"), and can be dropped
  at once by :meth:`TtlCache.invalidate` (a token revoked, a gateway retired).
- Concurrent misses for one key share one look-up (no stampede on a cold cache).
- When a refresh fails (the database is down), an entry up to ``stale_s`` old is still
  served: gateways keep uploading to Kafka through a database outage.
- At most ``max_entries``; the oldest go first.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LookupUnavailable(Exception):
    """The look-up failed and no usable cached answer exists."""

    reason = "lookup_unavailable"


@dataclass(slots=True)
class _Entry(Generic[V]):
    value: V | None
    fetched_at: float


class TtlCache(Generic[K, V]):
    def __init__(self, load: Callable[[K], Awaitable[V | None]], *, ttl_s: float,
                 negative_ttl_s: float, stale_s: float, max_entries: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._load = load
        self.ttl_s = ttl_s
        self.negative_ttl_s = negative_ttl_s
        self.stale_s = stale_s
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[K, _Entry[V]] = {}
        self._loading: dict[K, asyncio.Future[V | None]] = {}
        self.hits = 0
        self.misses = 0

    async def get(self, key: K) -> V | None:
        """The cached value if fresh, else a new look-up (shared with concurrent callers)."""
        now = self._clock()
        entry = self._entries.get(key)
        if entry is not None:
            ttl = self.ttl_s if entry.value is not None else self.negative_ttl_s
            if now - entry.fetched_at < ttl:
                self.hits += 1
                return entry.value
        self.misses += 1
        pending = self._loading.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._refresh(key, entry))
            self._loading[key] = pending
            pending.add_done_callback(lambda _: self._loading.pop(key, None))
        return await asyncio.shield(pending)

    async def _refresh(self, key: K, old: _Entry[V] | None) -> V | None:
        try:
            value = await self._load(key)
        except Exception as exc:
            if old is not None and old.value is not None \
                    and self._clock() - old.fetched_at < self.stale_s:
                return old.value
            raise LookupUnavailable(f"{type(exc).__name__}: {exc}") from exc
        self._put(key, value)
        return value

    def _put(self, key: K, value: V | None) -> None:
        self._entries.pop(key, None)
        while len(self._entries) >= self.max_entries:
            del self._entries[next(iter(self._entries))]
        self._entries[key] = _Entry(value, self._clock())

    def invalidate(self, key: K) -> None:
        self._entries.pop(key, None)

    def invalidate_where(self, stale: Callable[[K, V | None], bool]) -> None:
        for key in [k for k, e in self._entries.items() if stale(k, e.value)]:
            del self._entries[key]

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
