"""Receivers for ``trialwire eval alerts``, on loopback: a webhook endpoint (uvicorn) that
checks each signature, refuses the first ``fail_first`` tries of each idempotency key and
takes a key once (a repeat of a taken key is answered 200 and counted as a duplicate), and
an SMTP server (aiosmtpd) that keeps each message by its Message-ID."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import uvicorn
from aiosmtpd.controller import Controller
from fastapi import FastAPI, Request, Response

from deploy.services.ports import free_port
from stream.alerts import signing


@dataclass
class Taken:
    """What one receiver saw: key → wall-clock time it took the alert; repeats of taken
    keys; tries it refused on purpose; signatures that did not verify."""

    first: dict[str, float] = field(default_factory=dict)
    duplicates: int = 0
    refused: int = 0
    bad_signatures: int = 0
    tries: dict[str, int] = field(default_factory=dict)

    def take(self, key: str) -> None:
        if key in self.first:
            self.duplicates += 1
        else:
            self.first[key] = time.time()


class WebhookReceiver:
    def __init__(self, *, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.secret = ""
        self.taken = Taken()
        self.url = ""

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/hook")
        async def hook(request: Request) -> Response:
            body = await request.body()
            key = request.headers.get(signing.IDEMPOTENCY_HEADER, "")
            try:
                signing.verify(self.secret, request.headers.get(signing.HEADER, ""), body,
                               now=time.time())
            except signing.SignatureError:
                self.taken.bad_signatures += 1
                return Response(status_code=401)
            self.taken.tries[key] = self.taken.tries.get(key, 0) + 1
            if self.taken.tries[key] <= self.fail_first and key not in self.taken.first:
                self.taken.refused += 1
                return Response(status_code=503)
            self.taken.take(key)
            return Response(status_code=200)

        return app

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[str]:
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(self.app(), host="127.0.0.1", port=port,
                                               log_level="warning", lifespan="off"))
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.05)
        self.url = f"http://127.0.0.1:{port}/hook"
        try:
            yield self.url
        finally:
            server.should_exit = True
            await task


class SmtpInbox:
    """A plain SMTP server on loopback (the eval measures delivery, not TLS: the tests
    cover STARTTLS)."""

    def __init__(self) -> None:
        self.taken = Taken()
        self.port = 0

    async def handle_DATA(self, _server: object, _session: object, envelope: object) -> str:
        content: bytes = envelope.content  # type: ignore[attr-defined]
        for line in content.split(b"\r\n"):
            if line.lower().startswith(b"message-id:"):
                key = line.split(b":", 1)[1].strip().strip(b"<>").split(b"@")[0]
                self.taken.take(key.decode())
                break
        return "250 OK"

    @contextlib.contextmanager
    def serving(self) -> Iterator[int]:
        self.port = free_port()
        controller = Controller(self, hostname="127.0.0.1", port=self.port)
        controller.start()
        try:
            yield self.port
        finally:
            controller.stop()
