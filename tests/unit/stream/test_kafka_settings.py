"""Kafka client settings: one source of truth for every producer, consumer and Faust."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from stream.kafka.settings import KafkaSettings


def test_defaults_follow_the_compatibility_notes() -> None:
    settings = KafkaSettings(bootstrap="a:9092, b:9092")
    producer = settings.producer_config()
    assert producer["bootstrap_servers"] == ["a:9092", "b:9092"]
    assert producer["acks"] == "all"
    assert producer["compression_type"] == "zstd"
    assert producer["enable_idempotence"] is True
    assert 5 <= producer["linger_ms"] <= 20
    consumer = settings.consumer_config("g")
    assert consumer["enable_auto_commit"] is False
    assert consumer["session_timeout_ms"] == 10_000
    faust_config = settings.faust_config()
    assert faust_config["broker"] == "kafka://a:9092;kafka://b:9092"
    assert faust_config["processing_guarantee"] == "at_least_once"


def test_embedded_broker_turns_idempotence_off() -> None:
    settings = KafkaSettings(bootstrap="127.0.0.1:1", embedded_broker=True)
    assert settings.producer_config()["enable_idempotence"] is False
    assert settings.faust_config()["topic_replication_factor"] == 1


def test_environment_configures_sasl_ssl(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    secret = tmp_path / "kafka-password"
    secret.write_text("s3cr3t\n")
    monkeypatch.setenv("TRIALWIRE_KAFKA_BOOTSTRAP", "kafka.example:9093")
    monkeypatch.setenv("TRIALWIRE_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("TRIALWIRE_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("TRIALWIRE_KAFKA_SASL_USERNAME", "trialwire")
    monkeypatch.setenv("TRIALWIRE_KAFKA_SASL_PASSWORD_FILE", str(secret))
    settings = KafkaSettings()
    config = settings.producer_config()
    assert config["security_protocol"] == "SASL_SSL"
    assert config["sasl_mechanism"] == "SCRAM-SHA-512"
    assert config["sasl_plain_password"] == "s3cr3t"
    assert config["ssl_context"] is not None
    assert "s3cr3t" not in repr(settings)
    assert settings.faust_config()["broker_credentials"] is not None


def test_sasl_without_credentials_is_refused() -> None:
    with pytest.raises(ValidationError, match="SASL_MECHANISM"):
        KafkaSettings(security_protocol="SASL_PLAINTEXT")
    with pytest.raises(ValidationError, match="PASSWORD"):
        KafkaSettings(security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN",
                      sasl_username="u")
