"""How the API and ingest servers accept connections: a deadline for every request head and
a cap on connections, so that clients that connect and say nothing, or trickle their
headers, cannot hold the server's sockets (issue 15; the body has its own timeout in the
routes that read one).

uvicorn has no request-head timeout: its keep-alive timer is cancelled by any byte that
arrives, and a fresh connection has none at all. The protocol below arms a deadline when a
connection opens and after each response; it is met only by a complete request head (a new
request cycle), not by bytes. It runs on uvicorn's httptools protocol (the C parser) and
the uvloop event loop: the pure-Python h11 parser and asyncio's loop cost more than half of
the ingest service's CPU per upload.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from api import metrics

logger = logging.getLogger(__name__)

HEAD_TIMEOUT_S = 10.0
MAX_CONNECTIONS = 2000  # beyond this uvicorn answers 503 at once
GRACEFUL_SHUTDOWN_S = 5  # in-flight requests (long-polls hold 25 s) get this on SIGTERM


class HeadDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools HTTP/1.1 protocol with a deadline for each request head (its
    ``cycle`` changes when a head is complete, which is what the deadline waits for)."""

    head_timeout_s = HEAD_TIMEOUT_S
    _head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()

    def on_response_complete(self) -> None:
        # Armed first: a pipelined request that super() starts is a new cycle, and meets it.
        self._arm_head_deadline()
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_deadline()
        super().connection_lost(exc)

    def _arm_head_deadline(self) -> None:
        self._disarm_head_deadline()
        self._head_deadline = self.loop.call_later(self.head_timeout_s, self._head_overdue,
                                                   self.cycle)

    def _disarm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _head_overdue(self, cycle_when_armed: object) -> None:
        if self.cycle is cycle_when_armed and not self.transport.is_closing():
            metrics.HEAD_TIMEOUTS.inc()
            logger.info("closed a connection without a request head in %.0f s (%s)",
                        self.head_timeout_s, self.client)
            self.transport.close()


def with_head_timeout(seconds: float) -> type[HeadDeadlineProtocol]:
    """The protocol with another head deadline (tests use a short one)."""
    return type("HeadDeadlineProtocol", (HeadDeadlineProtocol,), {"head_timeout_s": seconds})


def server_config(app: Any, *, host: str, port: int, head_timeout_s: float = HEAD_TIMEOUT_S,
                  max_connections: int = MAX_CONNECTIONS, **options: Any) -> uvicorn.Config:
    """uvicorn's configuration for our servers. ``log_config=None`` keeps the JSON/console
    handlers the entry point configured; SIGTERM ends the process within 10 s."""
    options.setdefault("log_config", None)
    options.setdefault("timeout_graceful_shutdown", GRACEFUL_SHUTDOWN_S)
    options.setdefault("loop", "uvloop")
    return uvicorn.Config(app, host=host, port=port, http=with_head_timeout(head_timeout_s),
                          limit_concurrency=max_connections, **options)
