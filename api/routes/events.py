"""The live monitoring page's change feed: ``GET /v1/studies/{study}/events``, server-sent
events (``text/event-stream``) naming each flag of the study that was raised or changed,
and each change of its alert deliveries. A notice carries only the flag id, its kind and
status; the page re-reads the flag through the role-checked routes. The stream ends after
``live_stream_max_s`` (the browser reconnects and is checked again), so a revoked token
stops being served within that time."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Annotated

import msgspec
from fastapi import APIRouter, Depends, HTTPException, Request, status
from starlette.responses import StreamingResponse

from api.auth.roles import Principal, Role
from api.deps import requires_briefly
from api.live.hub import RESYNC, FlagEventHub, Subscription
from api.settings import ApiSettings

router = APIRouter(prefix="/v1/studies/{study}", tags=["flags"])

Watcher = Annotated[Principal, Depends(requires_briefly(Role.ADMIN, Role.MONITOR))]

RECONNECT_MS = 3000  # what the stream tells the browser to wait before reconnecting


def _frame(event: str, data: dict[str, object]) -> bytes:
    return f"event: {event}\ndata: {msgspec.json.encode(data).decode()}\n\n".encode()


async def _stream(hub: FlagEventHub, subscription: Subscription,
                  settings: ApiSettings) -> AsyncIterator[bytes]:
    try:
        yield f"retry: {RECONNECT_MS}\n\n".encode() + _frame("hello", {"live": hub.connected})
        ends = time.monotonic() + settings.live_stream_max_s
        while (left := ends - time.monotonic()) > 0:
            item = await subscription.next(min(left, settings.live_heartbeat_s))
            if item is None:
                yield b": keep-alive\n\n"
            elif item == RESYNC:
                yield _frame(RESYNC, {})
            elif not isinstance(item, str):
                yield _frame(item.kind, {"flag": item.flag, "status": item.status})
    finally:
        hub.unsubscribe(subscription)


@router.get("/events", response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "Server-sent events: hello, flag, delivery, resync"},
                       503: {"description": "Too many live pages open on this server"}})
async def events(study: str, request: Request, _: Watcher) -> StreamingResponse:
    """Flags of the study raised or changed, as they happen (for the monitoring page)."""
    hub: FlagEventHub = request.app.state.flag_events
    settings: ApiSettings = request.app.state.settings
    subscription = hub.subscribe(study)
    if subscription is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "too many live pages are open on this server; retry later",
                            headers={"Retry-After": "30"})
    return StreamingResponse(_stream(hub, subscription, settings),
                             media_type="text/event-stream",
                             headers={"X-Accel-Buffering": "no"})
