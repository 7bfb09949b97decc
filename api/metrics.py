"""Prometheus metrics of the API: requests by route template, method and status, and
their latency; served by ``trialwire api serve --metrics-port`` on a port of its own."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import Counter, Histogram
from starlette.types import Message, Receive, Scope, Send

from api.http_middleware import HttpMiddleware
from api.web.mount import PREFIX as MONITOR_PREFIX

REQUESTS = Counter("trialwire_api_requests_total", "HTTP requests, by route and status",
                   ["method", "route", "status"])
LATENCY = Histogram("trialwire_api_request_seconds", "Time to answer, by route",
                    ["method", "route"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2.5, 5, 10))
INGESTED = Counter("trialwire_api_ingested_envelopes_total",
                   "Envelopes accepted by HTTP ingest and acknowledged by Kafka")
HEAD_TIMEOUTS = Counter("trialwire_api_head_timeouts_total",
                        "Connections closed for not sending a request head in time")


class MetricsMiddleware(HttpMiddleware):
    """Counts and times every HTTP request. Labels use the route template
    (``/v1/studies/{study}/…``), never the concrete path, so no subject code or token
    becomes a label and the label set stays bounded."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        status = 500  # unless a response starts

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = _template(scope)
            REQUESTS.labels(scope["method"], route, str(status)).inc()
            LATENCY.labels(scope["method"], route).observe(time.perf_counter() - started)


def _template(scope: Scope) -> str:
    """The matched route's path template; the monitoring page's files as one label."""
    route: Any = scope.get("route")
    if route is not None and hasattr(route, "path"):
        return str(route.path)
    if str(scope.get("path", "")).startswith(MONITOR_PREFIX):
        return MONITOR_PREFIX
    return "unmatched"
