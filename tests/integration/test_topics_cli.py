"""``trialwire topics create`` against the real broker: creates once, then reports existing."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from typer.testing import CliRunner

from deploy.cli import app
from stream.contract.topics import TOPICS
from stream.kafka.settings import KafkaSettings

pytestmark = pytest.mark.integration


def test_topics_create_is_idempotent(kafka_settings: KafkaSettings,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIALWIRE_KAFKA_BOOTSTRAP", kafka_settings.bootstrap)
    monkeypatch.setenv("TRIALWIRE_KAFKA_EMBEDDED_BROKER", str(kafka_settings.embedded_broker))
    runner = CliRunner()
    first = runner.invoke(app, ["topics", "create", "--partitions", "3"],
                          env={"COLUMNS": "250"})
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, ["topics", "create"], env={"COLUMNS": "250"})
    assert second.exit_code == 0, second.output
    for spec in TOPICS:
        assert spec.name in second.output
    assert "created" not in second.output
    async def listed() -> set[str]:
        admin = AIOKafkaAdminClient(**kafka_settings.admin_config())
        await admin.start()
        try:
            return set(await admin.list_topics())
        finally:
            await admin.close()

    existing = asyncio.run(listed())
    assert {t.name for t in TOPICS} <= existing
    bad = runner.invoke(app, ["topics", "create", "--partitions", "0"])
    assert bad.exit_code == 1
    assert "--partitions must be at least 1" in bad.output
