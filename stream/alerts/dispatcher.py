"""The alert loop: plan every newly stored flag's deliveries, then make the tries that are
due, each under a lease, and record each outcome. At least once per (flag, channel), under
one idempotency key: a dispatcher killed mid-try leaves the try to be made again when its
lease ends, and the receiver recognises the repeat by its key."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
from psycopg import AsyncConnection

from storage import alerts
from storage.alerts import DueDelivery
from stream.alerts import backoff, channels, matching
from stream.alerts.channels import TryResult
from stream.alerts.settings import AlertSettings, SmtpSettings

logger = logging.getLogger(__name__)

Connect = Callable[[], Awaitable[AsyncConnection[Any]]]


class AlertDispatcher:
    def __init__(self, connect: Connect, settings: AlertSettings, smtp: SmtpSettings,
                 client: httpx.AsyncClient) -> None:
        self.connect = connect
        self.settings = settings
        self.smtp = smtp
        self.client = client
        self.counts = {"planned": 0, "delivered": 0, "failed": 0, "dead": 0}

    async def plan(self, conn: AsyncConnection[Any]) -> int:
        """Deliveries for the flags stored since the last round; returns how many new."""
        async with conn.transaction():
            flags = await alerts.unplanned_flags(conn, limit=500)
            if not flags:
                return 0
            known = await alerts.channels(conn)
            now = datetime.now(UTC)
            planned = [(flag, channel, at) for flag in flags
                       for channel, at in matching.plan(known, flag, now)]
            new = await alerts.plan_deliveries(conn, flag_ids=[f.id for f in flags],
                                               deliveries=planned)
        self.counts["planned"] += new
        return new

    async def deliver(self, conn: AsyncConnection[Any]) -> int:
        """Make the tries due now (concurrently), record each; returns how many."""
        async with conn.transaction():
            due = await alerts.claim_due(conn, lease_s=self.settings.lease_s,
                                         limit=self.settings.batch)
        if not due:
            return 0
        results = await asyncio.gather(*(self._try(d) for d in due))
        for d, (started, duration_ms, result) in zip(due, results, strict=True):
            await self._record(conn, d, started, duration_ms, result)
        return len(due)

    async def _try(self, due: DueDelivery) -> tuple[datetime, float, TryResult]:
        started, clock = datetime.now(UTC), time.perf_counter()
        if due.channel.kind == "webhook":
            result = await channels.post_webhook(self.client, due)
        else:
            result = await channels.send_email(self.smtp, due,
                                               timeout_s=self.settings.timeout_s)
        return started, (time.perf_counter() - clock) * 1000, result

    async def _record(self, conn: AsyncConnection[Any], due: DueDelivery, started: datetime,
                      duration_ms: float, result: TryResult) -> None:
        if result.ok:
            outcome, retry_at = "delivered", None
        elif result.permanent or backoff.gives_up(due.attempt,
                                                  max_attempts=self.settings.max_attempts):
            outcome, retry_at = "dead", None
            logger.warning("alert %s over %s %r given up after %d tries: %s",
                           due.idempotency_key, due.channel.kind, due.channel.name,
                           due.attempt, result.error)
        else:
            outcome = "failed"
            retry_at = datetime.now(UTC) + timedelta(seconds=backoff.retry_delay_s(
                due.attempt, base_s=self.settings.retry_base_s, cap_s=self.settings.retry_cap_s))
        async with conn.transaction():
            await alerts.record_try(conn, delivery_id=due.id, attempt=due.attempt,
                                    started_at=started, duration_ms=duration_ms,
                                    outcome=outcome, status=result.status, error=result.error,
                                    retry_at=retry_at)
            if result.ok and due.channel.escalate_after_s > 0:
                await alerts.mark_escalated(conn, due)
        self.counts[outcome] += 1

    async def run(self, stop: asyncio.Event) -> None:
        """Rounds until ``stop`` is set; the database away is waited out, never fatal."""
        conn: AsyncConnection[Any] | None = None
        while not stop.is_set():
            busy = False
            try:
                if conn is None or conn.closed:
                    conn = await self.connect()
                busy = bool(await self.plan(conn)) | bool(await self.deliver(conn))
            except (psycopg.Error, OSError, TimeoutError) as exc:
                logger.warning("alert round failed (%s); trying again", exc)
                await _close(conn)
                conn = None
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.settings.poll_s)
        await _close(conn)


async def _close(conn: AsyncConnection[Any] | None) -> None:
    if conn is not None:
        try:
            await conn.close()
        except Exception:  # already broken: nothing to release
            logger.debug("closing a broken connection failed", exc_info=True)
