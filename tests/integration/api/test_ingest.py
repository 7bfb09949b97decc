"""HTTP ingest: a gateway posts the wire envelope; it lands on the raw topic keyed by
subject, exactly as if the gateway had produced it."""

from __future__ import annotations

import json

import httpx
import psycopg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import SecretStr

from api.auth.roles import Role
from api.auth.tokens import create_token
from api.main import create_app
from deploy.bench.seed import seed_study
from storage.settings import DatabaseSettings
from stream.kafka.admin import ensure_topics
from stream.kafka.settings import KafkaSettings
from tests.integration.api.conftest import Api
from tests.integration.stream.worker_harness import hr_envelope

pytestmark = pytest.mark.integration


async def test_envelope_is_produced_to_the_raw_topic(migrated_dsn: str,
                                                     kafka_settings: KafkaSettings,
                                                     unique_name: str) -> None:
    kafka = kafka_settings.model_copy(update={"topic_prefix": unique_name})
    await ensure_topics(kafka, partitions={s.name: 1 for s in kafka.topics.specs()})
    async with await psycopg.AsyncConnection.connect(migrated_dsn) as conn:
        await seed_study(conn, subjects=2)
        token = await create_token(conn, role=Role.GATEWAY, study="ST-1", gateway_id="GW-1")
        await conn.commit()
    app = create_app(DatabaseSettings(url=SecretStr(migrated_dsn)), kafka)
    envelope = hr_envelope(0, [70.0, 71.0])
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
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


async def test_without_kafka_ingest_answers_503(api: Api) -> None:
    response = await api.client.post("/v1/gateways/GW-1/envelopes", content=hr_envelope(0, [70.0]),
                                     headers=api.headers("gateway"))
    assert response.status_code == 503
