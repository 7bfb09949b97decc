"""Slow and oversized uploads against the live server on loopback (bounded: ten clients,
seconds long, all closed at the end): they hold no database connection, so monitors and
health probes keep their answers; a trickled body is cut off; an unauthenticated huge
body is refused before it is read."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator

import httpx
import psycopg
import pytest
from pydantic import SecretStr

from api import request_limits
from api.auth.roles import Role
from api.auth.tokens import create_token
from api.main import create_app
from deploy.bench.seed import seed_study
from storage.settings import DatabaseSettings
from stream.kafka.settings import KafkaSettings
from tests.fixtures.http_server import serving

pytestmark = [pytest.mark.integration]

SLOW_CLIENTS = 10  # as many as the API's pool has connections


@pytest.fixture
def server(migrated_dsn: str, own_topics: KafkaSettings) -> Iterator[tuple[str, int]]:
    """(host, port) of the API with its ingest service, the pool at its default size."""
    app = create_app(DatabaseSettings(url=SecretStr(migrated_dsn)), own_topics)
    with serving(app) as port:
        yield "127.0.0.1", port


async def _tokens(dsn: str) -> tuple[str, str]:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        await seed_study(conn, subjects=1)
        gateway = await create_token(conn, role=Role.GATEWAY, study="ST-1", gateway_id="GW-1")
        monitor = await create_token(conn, role=Role.MONITOR, study="ST-1")
        await conn.commit()
    return gateway, monitor


async def _admin(dsn: str) -> str:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        admin = await create_token(conn, role=Role.ADMIN, study="ST-1")
        await conn.commit()
    return admin


UPLOAD = ("/v1/gateways/GW-1/envelopes", "application/json")
CSV_IMPORT = ("/v1/studies/ST-1/subjects/import", "text/csv")


async def _trickle(host: str, port: int, token: str, stop: asyncio.Event,
                   route: tuple[str, str] = UPLOAD) -> bytes:
    """A request to ``route`` (path, content type) that declares 1 000 bytes of body and
    sends one every 0.5 s until ``stop``; returns what the server answered (b"" if
    nothing)."""
    path, content_type = route
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(f"POST {path} HTTP/1.1\r\nHost: x\r\n".encode()
                     + b"Authorization: Bearer " + token.encode() + b"\r\n"
                     + f"Content-Type: {content_type}\r\nContent-Length: 1000\r\n\r\n".encode())
        await writer.drain()
        while not stop.is_set():
            writer.write(b" ")
            await writer.drain()
            with contextlib.suppress(TimeoutError):
                return await asyncio.wait_for(reader.read(200), 0.5)
        return b""
    except (ConnectionError, OSError):
        return b""
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def test_slow_uploads_hold_no_database_connection(
        server: tuple[str, int], migrated_dsn: str) -> None:
    """Ten slow gateway uploads and ten slow CSV imports by an administrator, each past its
    headers and trickling its body: none holds a pooled connection, so a monitor's request
    and the health probe are answered at once."""
    host, port = server
    gateway, monitor = await _tokens(migrated_dsn)
    admin = await _admin(migrated_dsn)
    stop = asyncio.Event()
    slow = [asyncio.create_task(_trickle(host, port, gateway, stop))
            for _ in range(SLOW_CLIENTS)]
    slow += [asyncio.create_task(_trickle(host, port, admin, stop, CSV_IMPORT))
             for _ in range(SLOW_CLIENTS)]
    try:
        await asyncio.sleep(2.0)  # every slow upload is past its headers and trickling
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=10) as client:
            began = time.monotonic()
            health = await client.get("/healthz")
            subjects = await client.get("/v1/studies/ST-1/subjects",
                                        headers={"Authorization": f"Bearer {monitor}"})
            waited = time.monotonic() - began
        assert health.status_code == 200, health.text
        assert subjects.status_code == 200, subjects.text
        assert waited < 5.0  # not queued behind the slow uploads (a bound, not a benchmark)
    finally:
        stop.set()
        await asyncio.gather(*slow)


@pytest.mark.parametrize("route", [UPLOAD, CSV_IMPORT], ids=["upload", "csv-import"])
async def test_a_trickled_body_is_cut_off(server: tuple[str, int], migrated_dsn: str,
                                          monkeypatch: pytest.MonkeyPatch,
                                          route: tuple[str, str]) -> None:
    """On the gateway's route and on the API's own (every route, api/request_limits.py)."""
    host, port = server
    gateway, _ = await _tokens(migrated_dsn)
    token = gateway if route == UPLOAD else await _admin(migrated_dsn)
    monkeypatch.setattr(request_limits, "BODY_TIMEOUT_S", 2.0)
    stop = asyncio.Event()
    answer = await asyncio.wait_for(_trickle(host, port, token, stop, route), 20)
    assert answer.startswith(b"HTTP/1.1 408"), answer


@pytest.mark.parametrize("path", ["/v1/gateways/GW-1/envelopes",
                                  "/v1/studies/ST-1/flags/1/transitions"])
async def test_a_huge_unauthenticated_body_is_refused_unread(server: tuple[str, int],
                                                            path: str) -> None:
    """100 MB declared, no token, to the gateway route and to a JSON route of the API
    (FastAPI reads such bodies before the role check): 413 at once, after a few kilobytes
    at most, with the security headers every answer carries."""
    host, port = server
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(f"POST {path} HTTP/1.1\r\nHost: x\r\n".encode()
                     + b"Content-Type: application/json\r\nContent-Length: 100000000\r\n\r\n")
        writer.write(b"x" * 4096)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(2000), 10)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    assert answer.startswith(b"HTTP/1.1 413"), answer
    assert b"x-content-type-options: nosniff" in answer.lower(), answer


@pytest.fixture
def strict_server(migrated_dsn: str, own_topics: KafkaSettings) -> Iterator[tuple[str, int]]:
    """The API with a 2 s head deadline and room for 5 connections."""
    app = create_app(DatabaseSettings(url=SecretStr(migrated_dsn)), own_topics)
    with serving(app, head_timeout_s=2.0, max_connections=5) as port:
        yield "127.0.0.1", port


async def _closed_after(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                        trickle: bytes) -> float:
    """Seconds until the server closes the connection, ``trickle`` sent a byte per 0.5 s."""
    began = time.monotonic()
    for byte in trickle:
        try:
            writer.write(bytes([byte]))
            await writer.drain()
            if await asyncio.wait_for(reader.read(100), 0.5) == b"":
                return time.monotonic() - began
        except TimeoutError:
            continue
        except (ConnectionError, OSError):
            return time.monotonic() - began
    return float("inf")


async def test_connections_without_a_request_head_are_closed(
        strict_server: tuple[str, int]) -> None:
    """A silent connection, and one trickling its headers a byte at a time, are closed at
    the 2 s head deadline (uvicorn alone held both for as long as they liked)."""
    host, port = strict_server
    silent_reader, silent_writer = await asyncio.open_connection(host, port)
    trickle_reader, trickle_writer = await asyncio.open_connection(host, port)
    try:
        began = time.monotonic()
        trickled = await _closed_after(trickle_reader, trickle_writer,
                                       b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 40)
        assert trickled < 6.0
        assert await asyncio.wait_for(silent_reader.read(100), 6.0 - (time.monotonic() - began)) == b""
    finally:
        for writer in (silent_writer, trickle_writer):
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
    async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=10) as client:
        assert (await client.get("/healthz")).status_code == 200  # a prompt client is served


async def test_connections_over_the_cap_are_answered_503(
        strict_server: tuple[str, int]) -> None:
    host, port = strict_server
    held = [await asyncio.open_connection(host, port) for _ in range(5)]
    try:
        async with httpx.AsyncClient(base_url=f"http://{host}:{port}", timeout=10) as client:
            assert (await client.get("/healthz")).status_code == 503
    finally:
        for _reader, writer in held:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
