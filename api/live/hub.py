"""One LISTEN connection per API process, fanned out to the open page streams of each
study. Streams never touch the database pool: a page left open holds a queue here, not a
connection. A stream whose client reads too slowly loses its queued notices and is told
to re-read everything (``RESYNC``), so no client can make the hub hold more than
``queue_size`` notices for it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

import psycopg

from storage import flag_events
from storage.flag_events import FlagEvent
from storage.pool import connect

logger = logging.getLogger(__name__)

RESYNC = "resync"  # notices may have been missed: re-read the page's data
RECONNECT_MAX_S = 10.0


@dataclass(eq=False)
class Subscription:
    study: str
    queue_size: int
    queue: asyncio.Queue[FlagEvent | str] = field(init=False)

    def __post_init__(self) -> None:
        self.queue = asyncio.Queue(maxsize=self.queue_size)

    def offer(self, item: FlagEvent | str) -> None:
        """Queue ``item``; when full, drop what is queued and ask for a re-read instead."""
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(RESYNC)

    async def next(self, timeout_s: float) -> FlagEvent | str | None:
        """The next notice (or ``RESYNC``), or None after ``timeout_s`` without one."""
        try:
            return await asyncio.wait_for(self.queue.get(), timeout_s)
        except TimeoutError:
            return None


class FlagEventHub:
    def __init__(self, dsn: str, *, max_subscribers: int, queue_size: int = 64) -> None:
        self.dsn = dsn
        self.max_subscribers = max_subscribers
        self.queue_size = queue_size
        self.subscribers: set[Subscription] = set()
        self.connected = False
        self._task: asyncio.Task[None] | None = None
        self._conn: psycopg.AsyncConnection[Any] | None = None

    def subscribe(self, study: str) -> Subscription | None:
        """A stream of ``study``'s notices, or None when the process has its maximum."""
        if len(self.subscribers) >= self.max_subscribers:
            return None
        subscription = Subscription(study, self.queue_size)
        self.subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self.subscribers.discard(subscription)

    def publish(self, event: FlagEvent | str) -> None:
        for subscription in list(self.subscribers):
            if isinstance(event, str) or subscription.study == event.study:
                subscription.offer(event)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="flag-event-hub")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()

    async def _run(self) -> None:
        """Listen; on any loss of the connection, reconnect with back-off and tell every
        stream to re-read (notices sent meanwhile are gone)."""
        delay = 0.5
        while True:
            try:
                self._conn = await connect(self.dsn, autocommit=True)
                await flag_events.listen(self._conn)
                if not self.connected and delay > 0.5:
                    self.publish(RESYNC)
                self.connected, delay = True, 0.5
                async for notice in self._conn.notifies():
                    event = flag_events.parse(notice.payload)
                    if event is not None:
                        self.publish(event)
            except (psycopg.Error, OSError) as exc:
                logger.warning("flag notices: %s; listening again in %.1f s", exc, delay)
            self.connected = False
            if self._conn is not None:
                with contextlib.suppress(Exception):
                    await self._conn.close()
            await asyncio.sleep(delay)
            delay = min(RECONNECT_MAX_S, delay * 2)
