"""HTTP ingest: a gateway posts the wire envelope; it lands on the raw topic keyed by
subject, exactly as if the gateway had produced it."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import httpx
import msgspec
import psycopg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import SecretStr

from api.auth.roles import Role
from api.auth.tokens import create_token, parse, revoke
from api.ingest.rate_limit import RateLimiter
from api.main import create_app
from deploy.bench.seed import seed_study
from storage import credential_events
from storage.settings import DatabaseSettings
from stream.contract import status as status_codec
from stream.contract.loss_evidence import digest
from stream.contract.status import GatewayStatus, SpoolStatus, UploadStatus
from stream.contract.watermark import Watermark
from stream.contract.watermark import encode as encode_watermark
from stream.kafka.settings import KafkaSettings
from tests.integration.api.conftest import Api
from tests.integration.stream.worker_harness import hr_envelope

pytestmark = pytest.mark.integration


@pytest.fixture
def kafka(own_topics: KafkaSettings) -> KafkaSettings:
    return own_topics


async def gateway_tokens(dsn: str, count: int = 1) -> list[str]:
    """A study with two subjects (GW-1 enrolls S-1's devices), and ``count`` GW-1 tokens."""
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        await seed_study(conn, subjects=2)
        tokens = [await create_token(conn, role=Role.GATEWAY, study="ST-1", gateway_id="GW-1")
                  for _ in range(count)]
        await conn.commit()
    return tokens


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


async def test_envelope_is_produced_to_the_raw_topic(migrated_dsn: str,
                                                     kafka: KafkaSettings) -> None:
    (token,) = await gateway_tokens(migrated_dsn)
    app = create_app(DatabaseSettings(url=SecretStr(migrated_dsn)), kafka)
    envelope = hr_envelope(0, [70.0, 71.0])
    headers = bearer(token)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test") as client:
        accepted = await client.post("/v1/gateways/GW-1/envelopes", content=envelope,
                                     headers=headers)
        assert accepted.status_code == 202, accepted.text
        assert accepted.json()["topic"] == kafka.topics.raw_readings
        bad = await client.post("/v1/gateways/GW-1/envelopes", content=b'{"readings": 1}',
                                headers=headers)
        assert bad.status_code == 422 and "not a valid envelope" in bad.json()["detail"]
        body = json.loads(envelope)
        for hostile, why in [({**body, "seq_to": 2**63}, "seq_to"),
                             ({**body, "device_type": "watch\u0000"}, "device_type"),
                             ({**body, "sent_at": "2106-02-07T06:28:15Z"}, "implausible time")]:
            refused = await client.post("/v1/gateways/GW-1/envelopes", headers=headers,
                                        content=json.dumps(hostile).encode())
            assert refused.status_code == 422 and why in refused.json()["detail"], refused.text
        huge = await client.post("/v1/gateways/GW-1/envelopes", content=b"x" * (5 << 20),
                                 headers=headers)
        assert huge.status_code == 413
        spoofed = await client.post(
            "/v1/gateways/GW-1/envelopes", headers=headers,
            content=hr_envelope(0, [70.0], gateway="GW-2", subject="S-2", device="W-2"))
        assert spoofed.status_code == 403 and "from gateway GW-2" in spoofed.json()["detail"]
        other = await client.post("/v1/gateways/GW-2/envelopes", content=envelope,
                                  headers=headers)
        assert other.status_code == 403
    consumer = AIOKafkaConsumer(**kafka.consumer_config(group_id=None))
    await consumer.start()
    try:
        tp = TopicPartition(kafka.topics.raw_readings, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        records = (await consumer.getmany(tp, timeout_ms=5000))[tp]
    finally:
        await consumer.stop()
    assert [(r.key, r.value) for r in records] == [(b"S-1", envelope)]



async def _raw_records(kafka: KafkaSettings) -> list[tuple[bytes | None, bytes | None]]:
    """(key, value) of every record on the raw topic, in each partition's order."""
    consumer = AIOKafkaConsumer(**kafka.consumer_config(group_id=None))
    await consumer.start()
    try:
        await consumer.topics()  # loads the cluster metadata the next line reads
        partitions = [TopicPartition(kafka.topics.raw_readings, p) for p in
                      sorted(consumer.partitions_for_topic(kafka.topics.raw_readings) or {0})]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        found = await consumer.getmany(*partitions, timeout_ms=3000)
    finally:
        await consumer.stop()
    return [(r.key, r.value) for tp in partitions for r in found.get(tp, [])]


async def test_an_upload_takes_envelopes_in_order_up_to_the_first_refused(
        migrated_dsn: str, kafka: KafkaSettings) -> None:
    """Several envelopes in one request go to the broker byte for byte and in order; one
    the service refuses stops the upload there (nothing behind it is produced) and the
    answer says which were taken and why the next was not."""
    (token,) = await gateway_tokens(migrated_dsn)
    app = create_app(DatabaseSettings(url=SecretStr(migrated_dsn)), kafka)
    good = [hr_envelope(i * 2, [70.0 + i, 71.0 + i]) for i in range(3)]
    late = json.loads(hr_envelope(6, [80.0]))
    late["sent_at"] = "2106-02-07T06:28:15Z"
    behind = hr_envelope(8, [90.0])
    headers = bearer(token)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        taken = await client.post("/v1/gateways/GW-1/uploads", headers=headers,
                                  content=b"[" + b",".join(good) + b"]")
        assert taken.status_code == 200, taken.text
        answer = taken.json()
        assert answer["refused"] is None
        assert [a["batch_id"] for a in answer["accepted"]] == [
            json.loads(e)["batch_id"] for e in good]
        offsets = [a["offset"] for a in answer["accepted"]]
        assert offsets == sorted(offsets) and len(set(offsets)) == 3
        assert {a["partition"] for a in answer["accepted"]} == {answer["accepted"][0]["partition"]}

        cut = await client.post("/v1/gateways/GW-1/uploads", headers=headers,
                                content=b"[" + b",".join([good[0], json.dumps(late).encode(),
                                                          behind]) + b"]")
        assert cut.status_code == 200, cut.text
        assert len(cut.json()["accepted"]) == 1
        refused = cut.json()["refused"]
        assert refused["index"] == 1 and refused["status"] == 422
        assert "implausible time" in refused["detail"]

        foreign = await client.post(
            "/v1/gateways/GW-1/uploads", headers=headers,
            content=b"[" + hr_envelope(0, [70.0], gateway="GW-2", subject="S-2",
                                       device="W-2") + b"]")
        assert foreign.json()["accepted"] == []
        assert foreign.json()["refused"]["status"] == 403
        for body, why in [(b"{}", "JSON array"), (b"[]", "1 to 500"),
                          (b"[" + b",".join([good[0]] * 501) + b"]", "1 to 500"),
                          (b"[1, 2", "JSON array")]:
            bad = await client.post("/v1/gateways/GW-1/uploads", headers=headers, content=body)
            assert bad.status_code == 422 and why in bad.json()["detail"], bad.text
        assert (await client.post("/v1/gateways/GW-1/uploads", content=b"[" + good[0] + b"]",
                                  headers={"Content-Type": "application/json"})).status_code == 401
    # 3 + 1 taken, in order; the refused envelope and the one behind it never produced.
    assert await _raw_records(kafka) == [(b"S-1", e) for e in [*good, good[0]]]

async def test_without_kafka_ingest_answers_503(api: Api) -> None:
    response = await api.client.post("/v1/gateways/GW-1/envelopes", content=hr_envelope(0, [70.0]),
                                     headers=api.headers("gateway"))
    assert response.status_code == 503


async def test_edge_checks_enrollment_and_follows_revocation_and_retirement(
        migrated_dsn: str, kafka: KafkaSettings) -> None:
    """Enrollment is checked at the edge (a device never enrolled through this gateway for
    this subject: 403); a revoked token and a retired gateway are refused at once
    (PostgreSQL notices), although both were cached by an accepted upload before."""
    token, second = await gateway_tokens(migrated_dsn, 2)
    app = create_app(DatabaseSettings(url=SecretStr(migrated_dsn)), kafka)
    headers = bearer(token)
    post = "/v1/gateways/GW-1/envelopes"
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        await asyncio.wait_for(app.state.ingest.listening.wait(), 30)
        assert (await client.post(post, content=hr_envelope(0, [70.0]),
                                  headers=headers)).status_code == 202
        foreign = await client.post(post, headers=headers, content=hr_envelope(
            0, [70.0], device="W-2", subject="S-2"))
        assert foreign.status_code == 403 and "never enrolled" in foreign.json()["detail"]
        wrong_subject = await client.post(post, headers=headers, content=hr_envelope(
            0, [70.0], subject="S-2"))
        assert wrong_subject.status_code == 403

        async with await psycopg.AsyncConnection.connect(migrated_dsn) as conn:
            assert await revoke(conn, parse(token)[0])  # type: ignore[index]
            await conn.commit()
        assert await _refused_within(client, post, headers, 401)
        other = {**headers, "Authorization": f"Bearer {second}"}
        assert (await client.post(post, content=hr_envelope(1, [71.0]),
                                  headers=other)).status_code == 202

        async with await psycopg.AsyncConnection.connect(migrated_dsn) as conn:
            await conn.execute("UPDATE gateways SET status = 'retired' WHERE id = 'GW-1'")
            await credential_events.announce(conn, credential_events.gateway_changed("GW-1"))
            await conn.commit()
        assert await _refused_within(client, post, other, 403)
        retired = await client.post(post, content=hr_envelope(2, [72.0]), headers=other)
        assert "retired" in retired.json()["detail"]


async def _refused_within(client: httpx.AsyncClient, path: str, headers: dict[str, str],
                          code: int, within_s: float = 5.0) -> bool:
    """Whether an upload is refused with ``code`` within ``within_s`` (a notice travels
    through PostgreSQL; the cache alone would take 30 s)."""
    deadline = asyncio.get_running_loop().time() + within_s
    while asyncio.get_running_loop().time() < deadline:
        answer = await client.post(path, content=hr_envelope(9, [70.0]), headers=headers)
        if answer.status_code == code:
            return True
        await asyncio.sleep(0.1)
    return False


async def test_a_gateway_gets_its_own_watermarks_only(
        migrated_dsn: str, kafka: KafkaSettings) -> None:
    """The answer to an upload and the long-poll carry this gateway's persisted watermarks,
    never another gateway's, and the long-poll wakes when a new one is published."""
    (token,) = await gateway_tokens(migrated_dsn)
    await _publish(kafka, Watermark(gateway_id="GW-1", devices={"W-1": 41},
                                    at=datetime.now(UTC)),
                   Watermark(gateway_id="GW-2", devices={"W-2": 99}, at=datetime.now(UTC)))
    app = create_app(DatabaseSettings(url=SecretStr(migrated_dsn)), kafka)
    headers = bearer(token)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        marks = (await client.get("/v1/gateways/GW-1/watermarks",
                                  params={"wait_s": 10}, headers=headers)).json()
        assert marks["devices"] == {"W-1": 41}
        accepted = await client.post("/v1/gateways/GW-1/envelopes",
                                     content=hr_envelope(42, [70.0]), headers=headers)
        assert accepted.json()["persisted"] == marks
        poll = asyncio.create_task(client.get(
            "/v1/gateways/GW-1/watermarks", headers=headers,
            params={"after": marks["version"], "wait_s": 20}))
        await asyncio.sleep(0.5)
        assert not poll.done()  # nothing new: the long-poll waits
        await _publish(kafka, Watermark(gateway_id="GW-1", devices={"W-1": 42},
                                        at=datetime.now(UTC)))
        newer = (await asyncio.wait_for(poll, 15)).json()
        assert newer["devices"] == {"W-1": 42} and newer["version"] > marks["version"]
        assert (await client.get("/v1/gateways/GW-2/watermarks",
                                 headers=headers)).status_code == 403


async def _publish(kafka: KafkaSettings, *marks: Watermark) -> None:
    producer = AIOKafkaProducer(**kafka.producer_config())
    await producer.start()
    try:
        for mark in marks:
            await producer.send_and_wait(kafka.topics.watermarks, encode_watermark(mark),
                                         key=mark.gateway_id.encode())
    finally:
        await producer.stop()


async def test_the_service_judges_overdue_batches_and_relays_status(
        migrated_dsn: str, kafka: KafkaSettings) -> None:
    """A gateway on HTTPS cannot read the broker: the service judges its overdue batches
    (the record at the offset is the batch: held; another one, or none: lost) and puts
    its status on the status topic."""
    (token,) = await gateway_tokens(migrated_dsn)
    app = create_app(DatabaseSettings(url=SecretStr(migrated_dsn)), kafka)
    headers = bearer(token)
    envelope = hr_envelope(0, [70.0])
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        placed = (await client.post("/v1/gateways/GW-1/envelopes", content=envelope,
                                    headers=headers)).json()

        def batch(batch_id: str, offset: int, body: bytes) -> dict[str, object]:
            return {"batch_id": batch_id, "partition": placed["partition"], "offset": offset,
                    "digest": digest(body), "acked_at": 1.0}
        answer = await client.post("/v1/gateways/GW-1/batches/check", headers=headers, json={
            "batches": [batch("held", placed["offset"], envelope),
                        batch("beyond", placed["offset"] + 5, b"x")]})
        assert answer.status_code == 200, answer.text
        # No worker group has committed here: held, position unknown.
        assert answer.json()["verdicts"] == {"held": "unknown", "beyond": "lost"}
        replaced = await client.post("/v1/gateways/GW-1/batches/check", headers=headers, json={
            "batches": [batch("replaced", placed["offset"], b"another envelope")]})
        assert replaced.json()["verdicts"] == {"replaced": "lost"}
        bad = await client.post("/v1/gateways/GW-1/batches/check", headers=headers,
                                json={"batches": [{"batch_id": "x", "offset": -1}]})
        assert bad.status_code == 422

        status = GatewayStatus(gateway_id="GW-1", subject="S-1", at=datetime.now(UTC),
                               devices=[], spool=SpoolStatus(), upload=UploadStatus())
        relayed = await client.post("/v1/gateways/GW-1/status", headers=headers,
                                    content=status_codec.encode(status))
        assert relayed.status_code == 202, relayed.text
        forged = msgspec.structs.replace(status, gateway_id="GW-2")
        refused = await client.post("/v1/gateways/GW-1/status", headers=headers,
                                    content=status_codec.encode(forged))
        assert refused.status_code == 403
    consumer = AIOKafkaConsumer(**kafka.consumer_config(group_id=None))
    await consumer.start()
    try:
        tp = TopicPartition(kafka.topics.status, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        records = (await consumer.getmany(tp, timeout_ms=5000))[tp]
    finally:
        await consumer.stop()
    assert [(r.key, status_codec.decode(r.value).gateway_id) for r in records] == [
        (b"GW-1", "GW-1")]


async def test_a_gateway_over_its_request_rate_gets_429_with_retry_after(
        migrated_dsn: str, kafka: KafkaSettings) -> None:
    (token,) = await gateway_tokens(migrated_dsn)
    app = create_app(DatabaseSettings(url=SecretStr(migrated_dsn)), kafka)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        app.state.ingest.limiter = RateLimiter(rate=1.0, burst=3.0)
        answers = [await client.get("/v1/gateways/GW-1/watermarks", headers=bearer(token))
                   for _ in range(5)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
        assert int(answers[3].headers["retry-after"]) >= 1
        assert "request rate" in answers[3].json()["detail"]
