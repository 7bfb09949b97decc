"""A gateway uploading over HTTP to the ingest service (served by uvicorn on loopback, with
a real broker and PostgreSQL): its batches reach the raw topic, its spool drains on its
own watermarks, an envelope the service rejects becomes a reported gap, and a retired
gateway's readings stay in its spool."""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI
from pydantic import SecretStr

from api.auth.roles import Role
from api.auth.tokens import create_token
from api.ingest.rate_limit import RateLimiter
from api.main import create_app
from deploy.bench.seed import seed_study
from devices.catalog import DeviceType
from gateway import http_transport
from gateway.credentials import ROTATE_AFTER_S, TokenRotation
from gateway.http_transport import HttpTransport
from gateway.spool import PendingItem, Spool
from gateway.uploader import Uploader
from gateway.wallclock import SystemClock
from storage import credential_events
from storage.settings import DatabaseSettings
from stream.contract import watermark as watermarks
from stream.contract.envelope import WireReading
from stream.contract.gateway_config import DeviceEntry, GatewayConfig
from stream.contract.status import GatewayStatus, SpoolStatus, UploadStatus
from stream.kafka.settings import KafkaSettings
from tests.fixtures.http_server import serving
from tests.integration.gateway.harness import read_envelopes

pytestmark = [pytest.mark.integration]

_APPS: dict[str, FastAPI] = {}


def _reading(at: datetime, seq: int) -> WireReading:
    return WireReading(seq=seq, metric="heart_rate", value=70.0, unit="/min", time=at,
                       received_at=at)


@pytest.fixture
def ingest(migrated_dsn: str, own_topics: KafkaSettings) -> Iterator[tuple[str, KafkaSettings]]:
    """(base URL, Kafka settings) of an API with its ingest service, on a loopback port."""
    kafka = own_topics
    app = create_app(DatabaseSettings(url=SecretStr(migrated_dsn)), kafka)
    with serving(app) as port:
        _APPS[f"http://127.0.0.1:{port}"] = app  # tests reach the service's limiter here
        yield f"http://127.0.0.1:{port}", kafka


@pytest.fixture
async def enrolled(migrated_dsn: str) -> str:
    """GW-1 (subject S-1, watch W-1) registered, and its gateway token."""
    async with await psycopg.AsyncConnection.connect(migrated_dsn) as conn:
        await seed_study(conn, subjects=1, start=datetime.now(UTC) - timedelta(days=1))
        token = await create_token(conn, role=Role.GATEWAY, study="ST-1", gateway_id="GW-1")
        await conn.commit()
    return token


def _config(url: str) -> GatewayConfig:
    return GatewayConfig(gateway_id="GW-1", study="ST-1", subject="S-1", api_url=url,
                         upload="ingest", batch_max_items=10, batch_linger_ms=0,
                         devices=[DeviceEntry(id="W-1", type=DeviceType.SMARTWATCH,
                                              address="AA:00:00:00:00:01")])


def _uploader(config: GatewayConfig, token: str,
              tmp_path: Path) -> tuple[Uploader, Spool, UploadStatus]:
    """An uploader over HTTP with an empty spool of its own."""
    spool = Spool(tmp_path / "spool.sqlite", budget_bytes=50 * 2**20, new_base=0)
    status = UploadStatus()
    uploader = Uploader(config=config, spool=spool, status=status, clock=SystemClock(),
                        transport=HttpTransport(config=config, token=token))
    return uploader, spool, status


@contextlib.asynccontextmanager
async def _uploading(uploader: Uploader) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(uploader.run()),
             asyncio.create_task(uploader.follow_watermarks())]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await uploader.close()


async def _until(done: Callable[[], bool], timeout_s: float = 60.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not done():  # noqa: ASYNC110 (state polled, not awaited)
            await asyncio.sleep(0.1)


async def _publish(kafka: KafkaSettings, devices: dict[str, int]) -> None:
    producer = AIOKafkaProducer(**kafka.producer_config())
    await producer.start()
    try:
        await producer.send_and_wait(kafka.topics.watermarks, watermarks.encode(
            watermarks.Watermark(gateway_id="GW-1", devices=devices, at=datetime.now(UTC))),
            key=b"GW-1")
    finally:
        await producer.stop()


async def test_batches_go_over_http_and_the_spool_drains_on_own_watermarks(
        ingest: tuple[str, KafkaSettings], enrolled: str, tmp_path: Path) -> None:
    url, kafka = ingest
    config = _config(url)
    uploader, spool, status = _uploader(config, enrolled, tmp_path)
    now = datetime.now(UTC)
    spool.write([PendingItem("W-1", _reading(now + timedelta(seconds=i), i))
                 for i in range(50)])
    try:
        async with _uploading(uploader):
            await _until(lambda: status.batches_sent >= 5)
            sent = await read_envelopes(kafka, "GW-1")
            assert sorted((e.seq_from, e.seq_to) for e in sent) == [
                (i, i + 9) for i in range(0, 50, 10)]
            assert spool.depth().items == 50  # nothing is freed before it is persisted
            await _publish(kafka, {"W-1": 49})
            await _until(lambda: spool.depth().items == 0)
        assert (status.resends, status.rejected_batches) == (0, 0)
    finally:
        spool.close()


async def test_a_rejected_envelope_becomes_a_reported_gap(
        ingest: tuple[str, KafkaSettings], enrolled: str, tmp_path: Path) -> None:
    """A reading 3 years old is refused (422, implausible time): its batch is halved until
    the old reading is alone, that one is dropped and a loss report for it goes out
    instead (so the watermark can pass it); its nine neighbours are delivered."""
    url, kafka = ingest
    config = _config(url)
    uploader, spool, status = _uploader(config, enrolled, tmp_path)
    now = datetime.now(UTC)
    spool.write([PendingItem("W-1", _reading(now - timedelta(days=1100), 0))])
    spool.write([PendingItem("W-1", _reading(now + timedelta(seconds=i), i))
                 for i in range(1, 11)])
    try:
        async with _uploading(uploader):
            await _until(lambda: status.rejected_batches >= 1 and status.loss_reports >= 1
                         and spool.depth().batches_built == 0)
        sent = await read_envelopes(kafka, "GW-1")
        reports = [e for e in sent if e.dropped is not None]
        data = [e for e in sent if e.dropped is None]
        assert [(e.seq_from, e.seq_to, e.dropped.items) for e in reports if e.dropped] == [
            (0, 0, 1)]
        delivered = sorted(r.seq for e in data for r in e.readings)
        assert delivered == list(range(1, 11))
        assert status.rejected_batches == 1
    finally:
        spool.close()


async def test_a_retired_gateway_keeps_its_readings_in_its_spool(
        ingest: tuple[str, KafkaSettings], enrolled: str, migrated_dsn: str,
        tmp_path: Path) -> None:
    url, kafka = ingest
    config = _config(url)
    async with await psycopg.AsyncConnection.connect(migrated_dsn) as conn:
        await conn.execute("UPDATE gateways SET status = 'retired' WHERE id = 'GW-1'")
        await credential_events.announce(conn, credential_events.gateway_changed("GW-1"))
        await conn.commit()
    uploader, spool, status = _uploader(config, enrolled, tmp_path)
    now = datetime.now(UTC)
    spool.write([PendingItem("W-1", _reading(now + timedelta(seconds=i), i))
                 for i in range(20)])
    try:
        async with _uploading(uploader):
            await _until(lambda: (status.last_error or "").startswith("refused"))
            assert "retired" in (status.last_error or "")
        assert status.batches_sent == 0
        assert spool.depth().items == 20
        assert await read_envelopes(kafka, "GW-1") == []
    finally:
        spool.close()


async def test_a_rate_limited_gateway_slows_down_and_loses_nothing(
        ingest: tuple[str, KafkaSettings], enrolled: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The service allows 2 requests a second here, and the gateway puts one batch in each
    upload: it gets 429s, waits the Retry-After it is given, and every batch still arrives
    exactly once."""
    monkeypatch.setattr(http_transport, "UPLOAD_MAX_BATCHES", 1)
    url, kafka = ingest
    config = _config(url)
    uploader, spool, status = _uploader(config, enrolled, tmp_path)
    now = datetime.now(UTC)
    spool.write([PendingItem("W-1", _reading(now + timedelta(seconds=i), i))
                 for i in range(60)])
    limiter = RateLimiter(rate=2.0, burst=2.0)
    _APPS[url].state.ingest.limiter = limiter
    try:
        async with _uploading(uploader):
            await _until(lambda: status.batches_sent >= 6, timeout_s=90)
        assert limiter.refused > 0
        sent = await read_envelopes(kafka, "GW-1")
        assert sorted((e.seq_from, e.seq_to) for e in sent) == [
            (i, i + 9) for i in range(0, 60, 10)]
    finally:
        spool.close()


async def test_a_gateway_rotates_its_token_and_uploads_with_the_new_one(
        ingest: tuple[str, KafkaSettings], enrolled: str, migrated_dsn: str,
        tmp_path: Path) -> None:
    """A token file older than the rotation age is replaced (atomically, mode 0600) by a
    token the service issues; uploads go on with it, the old token works for the grace
    hour only (here: moved into the past, then refused), and nothing is lost."""
    url, kafka = ingest
    config = _config(url)
    token_file = tmp_path / "gateway.yaml.token"
    token_file.write_text(enrolled + "\n")
    old_enough = time.time() - ROTATE_AFTER_S - 60
    os.utime(token_file, (old_enough, old_enough))
    uploader, spool, status = _uploader(config, enrolled, tmp_path)
    assert isinstance(uploader.transport, HttpTransport)
    rotation = TokenRotation(uploader.transport, token_file)
    try:
        assert await rotation.maybe_rotate()
        new = token_file.read_text().strip()
        assert new != enrolled and stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert not await rotation.maybe_rotate()  # fresh file: not due again
        old_id = enrolled.split("_")[1]
        async with await psycopg.AsyncConnection.connect(migrated_dsn) as conn:
            grace, = await (await conn.execute(
                "SELECT expires_at - now() FROM api_tokens WHERE id = %s", (old_id,))).fetchone()
            lifetime, = await (await conn.execute(
                "SELECT expires_at - now() FROM api_tokens WHERE id = %s",
                (new.split("_")[1],))).fetchone()
            assert timedelta(minutes=55) < grace <= timedelta(hours=1)
            assert timedelta(days=89) < lifetime <= timedelta(days=90)
            await conn.execute("UPDATE api_tokens SET expires_at = now() - interval '1 s'"
                               " WHERE id = %s", (old_id,))
            await credential_events.announce(conn, credential_events.token_changed(old_id))
            await conn.commit()
        now = datetime.now(UTC)
        spool.write([PendingItem("W-1", _reading(now + timedelta(seconds=i), i))
                     for i in range(20)])
        async with _uploading(uploader):
            await _until(lambda: status.batches_sent >= 2)
        assert sorted(r.seq for e in await read_envelopes(kafka, "GW-1")
                      for r in e.readings) == list(range(20))
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            async def status_of(token: str) -> int:
                answer = await client.get("/v1/gateways/GW-1/watermarks",
                                          headers={"Authorization": f"Bearer {token}"})
                return answer.status_code
            async with asyncio.timeout(10):
                while await status_of(enrolled) != 401:  # noqa: ASYNC110 (polled over HTTP)
                    await asyncio.sleep(0.2)
            assert await status_of(new) == 200
    finally:
        spool.close()


async def test_a_withdrawn_subjects_gateway_uploads_what_came_before_and_stops_collecting(
        ingest: tuple[str, KafkaSettings], enrolled: str, migrated_dsn: str,
        tmp_path: Path) -> None:
    """Withdrawn through the API: the readings measured before the withdrawal still go up
    (the study retains them), those measured after are refused (410) and dropped from the
    spool, and the gateway is told to stop, by the refused upload and by its next status
    answer."""
    url, kafka = ingest
    async with await psycopg.AsyncConnection.connect(migrated_dsn) as conn:
        admin = await create_token(conn, role=Role.ADMIN, study="ST-1")
        await conn.commit()
    async with httpx.AsyncClient(base_url=url) as client:
        answer = await client.post("/v1/studies/ST-1/subjects/S-1/status",
                                   json={"status": "withdrawn", "reason": "consent withdrawn"},
                                   headers={"Authorization": f"Bearer {admin}"})
    assert answer.status_code == 200, answer.text
    since = datetime.fromisoformat(answer.json()["since"])
    assert answer.json()["gateways_told"] == ["GW-1"]

    config = _config(url)
    told: list[str] = []
    spool = Spool(tmp_path / "spool.sqlite", budget_bytes=50 * 2**20, new_base=0)
    status = UploadStatus()
    transport = HttpTransport(config=config, token=enrolled)
    uploader = Uploader(config=config, spool=spool, status=status, clock=SystemClock(),
                        transport=transport, on_collection_stopped=told.append)
    spool.write([PendingItem("W-1", _reading(since - timedelta(seconds=20 - i), i))
                 for i in range(10)])  # before: kept
    spool.write([PendingItem("W-1", _reading(since + timedelta(seconds=1 + i), 10 + i))
                 for i in range(10)])  # after: refused
    try:
        async with _uploading(uploader):
            await _until(lambda: bool(told) and spool.depth().batches_built == 0
                         and spool.depth().unbatched == 0)
        sent = await read_envelopes(kafka, "GW-1")
        delivered = sorted(r.seq for e in sent if e.dropped is None for r in e.readings)
        assert delivered == list(range(10))
        assert "withdrawn" in told[0] and "nothing measured from then on" in told[0]
        again = HttpTransport(config=config, token=enrolled)  # (the uploader closed its own)
        try:
            reply = await again.publish_status(GatewayStatus(
                gateway_id="GW-1", subject="S-1", at=datetime.now(UTC), devices=[],
                spool=SpoolStatus(), upload=UploadStatus()))
        finally:
            await again.close()
        assert reply is not None and "S-1 is withdrawn" in reply
    finally:
        spool.close()
