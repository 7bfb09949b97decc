"""A withdrawal reaching a real home (virtual wearables on a bumble radio, the gateway
daemon uploading over HTTP to the ingest service with a real broker and PostgreSQL): after
a study admin withdraws the subject over the API, the gateway hears it in the answer to its
next status, ends its device sessions and keeps nothing new, well within the 5 minutes the
protocol allows, and stays stopped across a restart."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import psycopg
import pytest
from pydantic import SecretStr

from api.auth.roles import Role
from api.auth.tokens import create_token
from api.main import create_app
from deploy.eval.homes import register
from devices.catalog import DeviceType
from storage.settings import DatabaseSettings
from stream.kafka.settings import KafkaSettings
from tests.fixtures.http_server import serving
from tests.integration.gateway.harness import START, gateway_config, start_rig

pytestmark = [pytest.mark.integration]

SEED = 41
DEVICES = (DeviceType.SMARTWATCH,)


@pytest.fixture
def ingest(migrated_dsn: str, own_topics: KafkaSettings) -> Iterator[str]:
    with serving(create_app(DatabaseSettings(url=SecretStr(migrated_dsn)), own_topics)) as port:
        yield f"http://127.0.0.1:{port}"


async def _until(done, timeout_s: float, what: str) -> None:  # type: ignore[no-untyped-def]
    try:
        async with asyncio.timeout(timeout_s):
            while not done():  # noqa: ASYNC110 (state polled)
                await asyncio.sleep(0.2)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout_s} s waiting for {what}") from None


async def test_a_withdrawn_subjects_home_stops_collecting(
        ingest: str, migrated_dsn: str, own_topics: KafkaSettings, tmp_path: Path) -> None:
    config = gateway_config(SEED, DEVICES, upload="ingest", api_url=ingest)
    async with await psycopg.AsyncConnection.connect(migrated_dsn) as conn:
        await register(conn, config, since=START - timedelta(days=1))
        token = await create_token(conn, role=Role.GATEWAY, study=config.study,
                                   gateway_id=config.gateway_id)
        admin = await create_token(conn, role=Role.ADMIN, study=config.study)
        await conn.commit()
    rig = await start_rig(tmp_path, own_topics, seed=SEED, scenario="baseline", speed=10.0,
                          devices=DEVICES, token=token, upload="ingest", api_url=ingest,
                          status_interval_s=2.0)
    gateway = rig.gateway
    try:
        await _until(lambda: gateway.upload_status.batches_sent >= 2, 90, "uploads")
        async with httpx.AsyncClient(base_url=ingest) as client:
            answer = await client.post(
                f"/v1/studies/{config.study}/subjects/{config.subject}/status",
                json={"status": "withdrawn", "reason": "consent withdrawn"},
                headers={"Authorization": f"Bearer {admin}"})
        assert answer.status_code == 200, answer.text
        # Told within a status interval or two (the protocol allows 5 minutes).
        await _until(lambda: gateway.collection_stopped is not None, 60, "the stop")
        assert "withdrawn" in (gateway.collection_stopped or "")
        await _until(lambda: not any(d.connected for d in gateway.device_status.values()), 30,
                     "the device sessions to end")
        await gateway.writer.flush()
        kept = gateway.writer.written
        await asyncio.sleep(3.0)  # the wearables keep measuring: nothing more is kept
        await gateway.writer.flush()
        assert gateway.writer.written == kept
        assert gateway.stopped_file.read_text() == gateway.collection_stopped
    finally:
        await rig.stop()
