"""How much, and how slowly, a client may send a request body, on every route of the API and
ingest apps: at most ``MAX_BODY_BYTES`` (413 from the declared length before anything is
read, or as soon as more arrives), and the whole body within ``BODY_TIMEOUT_S`` of the
request's start (408). A client trickling bytes then holds one socket for a bounded time,
and nothing else: routes read their body before they take a database connection (FastAPI
reads declared bodies before it solves dependencies; the CSV import reads its own first).

A middleware inside the security headers and metrics, so these answers carry and count
like any other (FastAPI's own ``max_body_size`` answers from outside them)."""

from __future__ import annotations

import asyncio

from fastapi import HTTPException, status
from fastapi.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send

from api.http_middleware import HttpMiddleware

MAX_BODY_BYTES = 4 * 1024 * 1024  # the largest any route takes: a gateway's upload
BODY_TIMEOUT_S = 30.0


class BodyLimits(HttpMiddleware):
    """ASGI middleware: a body declared larger than ``MAX_BODY_BYTES`` is answered 413 at
    once; one that grows past it, or is not complete ``BODY_TIMEOUT_S`` after the request
    started, makes the route's read of it raise 413 or 408 (FastAPI re-raises an
    HTTPException from ``receive`` as it is). Once the body is complete, ``receive`` is
    passed through untimed: a long-poll waits on it for the client's hang-up."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit, timeout_s = MAX_BODY_BYTES, BODY_TIMEOUT_S  # read now: tests change them
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await JSONResponse({"detail": f"body of {int(declared)} bytes; at most {limit}"},
                               status_code=status.HTTP_413_CONTENT_TOO_LARGE,
                               headers={"Connection": "close"})(scope, receive, send)
            return
        deadline = asyncio.get_running_loop().time() + timeout_s
        received = 0
        complete = False

        async def receive_within_limits() -> Message:
            nonlocal complete, received
            if complete:
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise HTTPException(status.HTTP_408_REQUEST_TIMEOUT,
                                    f"body not received within {timeout_s:g} s") from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE,
                                        f"body over {limit} bytes")
            if message["type"] != "http.request" or not message.get("more_body", False):
                complete = True
            return message

        await self.app(scope, receive_within_limits, send)
