"""Group commit into the spool: captured items are written every ``interval_s`` (100 ms)
in one transaction, off the event loop. A RACP cursor only advances together with the
records it covers, so a crash never skips a record on the next backfill."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import stamina

from gateway import retry_policy
from gateway.spool import PendingItem, Spool

logger = logging.getLogger(__name__)


class SpoolWriter:
    def __init__(self, spool: Spool, interval_s: float = 0.1) -> None:
        self.spool = spool
        self.interval_s = interval_s
        self._items: list[PendingItem] = []
        self._cursors: dict[str, str] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.written = 0
        self.closed = False  # collection stopped: nothing new is kept
        self.discarded = 0

    def put(self, items: list[PendingItem], cursor: tuple[str, str] | None = None) -> None:
        if self.closed:  # the subject no longer collects (gateway/runner.py)
            self.discarded += len(items)
            return
        self._items.extend(items)
        if cursor is not None:
            self._cursors[cursor[0]] = cursor[1]
        if len(self._items) >= 1000:
            self._wake.set()

    async def flush(self) -> int:
        items, self._items = self._items, []
        cursors, self._cursors = self._cursors, {}
        if not items and not cursors:
            return 0
        try:
            stored = await asyncio.to_thread(self.spool.write, items, cursors)
        except Exception:
            # Keep them for the next attempt: nothing captured is dropped on a write error.
            self._items[:0] = items
            for device, cursor in cursors.items():
                self._cursors.setdefault(device, cursor)
            raise
        self.written += stored
        return stored

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval_s)
            self._wake.clear()
            # Every error is retried: what is queued here exists nowhere else, so a writer
            # that gave up would lose it; each failed attempt is logged.
            async for attempt in stamina.retry_context(on=Exception, attempts=None,
                                                       **retry_policy.SPOOL.stamina_kwargs()):
                with attempt:
                    try:
                        await self.flush()
                    except Exception:
                        logger.exception("spool write failed; retrying")
                        raise

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="spool-writer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()
