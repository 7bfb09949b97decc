"""The stream tests' rig: topics under a unique prefix, a seeded study, worker processes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest

from deploy.bench.seed import seed_study
from deploy.bench.stream_rig import StreamRig, create_topics
from stream.kafka.settings import KafkaSettings
from tests.integration.stream.worker_harness import T0


@pytest.fixture
async def rig(migrated_dsn: str, kafka_settings: KafkaSettings, unique_name: str,
              tmp_path: Path) -> AsyncIterator[StreamRig]:
    kafka = kafka_settings.model_copy(update={"topic_prefix": unique_name})
    await create_topics(kafka)
    async with await psycopg.AsyncConnection.connect(migrated_dsn) as conn:
        await seed_study(conn, subjects=2, start=T0)
    rig = StreamRig(kafka, migrated_dsn, tmp_path, f"{unique_name}-stream")
    try:
        yield rig
    finally:
        rig.stop_all()


@pytest.fixture
async def study(migrated_dsn: str) -> str:
    """A migrated database with the bench study (two subjects) in it; its DSN."""
    async with await psycopg.AsyncConnection.connect(migrated_dsn) as conn:
        await seed_study(conn, subjects=2)
    return migrated_dsn
