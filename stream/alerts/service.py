"""The alert dispatcher's assembly: check the schema, then plan and deliver until SIGTERM.
``trialwire alerts run`` calls :func:`run`."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

import httpx
from psycopg import AsyncConnection

from storage.migrate import require_current
from storage.pool import connect
from stream.alerts.dispatcher import AlertDispatcher
from stream.alerts.settings import AlertSettings, SmtpSettings

logger = logging.getLogger(__name__)


async def check_schema(dsn: str) -> None:
    """The database's schema is current (else StorageError, before anything starts)."""
    conn = await connect(dsn)
    try:
        await require_current(conn)
    finally:
        await conn.close()


async def serve(dsn: str, settings: AlertSettings, smtp: SmtpSettings,
                stop: asyncio.Event) -> dict[str, int]:
    """Run the dispatcher until ``stop``; returns its counts."""
    async def connect_db() -> AsyncConnection[Any]:
        return await connect(dsn)

    timeout = httpx.Timeout(settings.timeout_s)
    limits = httpx.Limits(max_connections=50, max_keepalive_connections=10)
    async with httpx.AsyncClient(timeout=timeout, limits=limits,
                                 follow_redirects=False) as client:
        dispatcher = AlertDispatcher(connect_db, settings, smtp, client)
        await dispatcher.run(stop)
    return dispatcher.counts


def run(*, dsn: str, settings: AlertSettings, smtp: SmtpSettings) -> dict[str, int]:
    """Until SIGTERM or SIGINT: the round under way finishes (each try is bounded by
    ``timeout_s``), then the process ends."""
    async def main() -> dict[str, int]:
        await check_schema(dsn)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if settings.metrics_port is not None:
            from prometheus_client import start_http_server
            start_http_server(settings.metrics_port, addr=settings.metrics_host)
        logger.info("alert dispatcher started")
        counts = await serve(dsn, settings, smtp, stop)
        logger.info("alert dispatcher stopped: %s", counts)
        return counts

    return asyncio.run(main())
