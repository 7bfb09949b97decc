"""Kafka client settings in one place: every producer, consumer, admin client and the Faust
app build their configuration from :class:`KafkaSettings` (``TRIALWIRE_KAFKA_*``).

Defaults follow ``shared/kafka-compat.md``: acks=all, zstd (aiokafka's lz4/gzip run at
level 9 and are slow), 10 ms linger with 256 KiB batches, 10 s sessions (each rebalance
costs session/2 on Tansu). Idempotence is on for a real cluster and off for the embedded
broker, whose InitProducerId does not work with aiokafka.
"""

from __future__ import annotations

import re
import ssl
from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from stream.contract.topics import PREFIX, TopicNames

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class KafkaSettings(BaseSettings):
    """Bootstrap servers, TLS/SASL and client tuning for every Kafka client of trialwire."""

    model_config = SettingsConfigDict(env_prefix="TRIALWIRE_KAFKA_", extra="ignore")

    bootstrap: str = "127.0.0.1:9092"
    # True when the broker is the embedded Tansu: enables the client-side fixes.
    embedded_broker: bool = False
    client_id: str = "trialwire"
    # Every topic name starts with this (stream/contract/topics.py).
    topic_prefix: str = PREFIX

    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    sasl_password_file: Path | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None

    # Replicas of every topic trialwire creates, Faust's changelogs included (default: 1
    # on the embedded broker, else 3); 1 for a single-broker cluster.
    replication_factor: int | None = None

    compression: Literal["zstd", "snappy", "gzip", "lz4", "none"] = "zstd"
    linger_ms: int = 10
    max_batch_bytes: int = 256 * 1024
    max_request_bytes: int = 4 * 1024 * 1024
    request_timeout_ms: int = 30_000
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 1_000
    max_poll_records: int = 2_000
    fetch_max_wait_ms: int = 100

    @field_validator("topic_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,100}", value):
            raise ValueError(f"topic prefix {value!r}: letters, digits, '.', '_', '-' only")
        return value

    @model_validator(mode="after")
    def _check_security(self) -> KafkaSettings:
        if self.security_protocol.startswith("SASL"):
            if self.sasl_mechanism is None or self.sasl_username is None:
                raise ValueError(
                    f"security_protocol {self.security_protocol} needs "
                    "TRIALWIRE_KAFKA_SASL_MECHANISM and TRIALWIRE_KAFKA_SASL_USERNAME"
                )
            if self.sasl_password is None and self.sasl_password_file is None:
                raise ValueError("SASL needs TRIALWIRE_KAFKA_SASL_PASSWORD or _PASSWORD_FILE")
        return self

    # -- derived ----------------------------------------------------------------------

    @property
    def topics(self) -> TopicNames:
        return TopicNames(self.topic_prefix)

    def replicas(self) -> int:
        """Replication factor for the topics trialwire creates."""
        if self.replication_factor is not None:
            return self.replication_factor
        return 1 if self.embedded_broker else 3

    @property
    def bootstrap_servers(self) -> list[str]:
        return [s.strip() for s in self.bootstrap.split(",") if s.strip()]

    def password(self) -> str | None:
        if self.sasl_password is not None:
            return self.sasl_password.get_secret_value()
        if self.sasl_password_file is not None:
            return self.sasl_password_file.read_text().strip()
        return None

    def ssl_context(self) -> ssl.SSLContext | None:
        """A verifying TLS context for SSL/SASL_SSL, else None."""
        if not self.security_protocol.endswith("SSL"):
            return None
        context = ssl.create_default_context(
            cafile=str(self.ssl_cafile) if self.ssl_cafile else None
        )
        if self.ssl_certfile is not None:
            context.load_cert_chain(str(self.ssl_certfile),
                                    str(self.ssl_keyfile) if self.ssl_keyfile else None)
        return context

    def _common(self) -> dict[str, Any]:
        common: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "client_id": self.client_id,
            "security_protocol": self.security_protocol,
            "request_timeout_ms": self.request_timeout_ms,
        }
        if self.security_protocol.endswith("SSL"):
            common["ssl_context"] = self.ssl_context()
        if self.security_protocol.startswith("SASL"):
            common.update(
                sasl_mechanism=self.sasl_mechanism,
                sasl_plain_username=self.sasl_username,
                sasl_plain_password=self.password(),
            )
        return common

    def producer_config(self) -> dict[str, Any]:
        """Keyword arguments for ``aiokafka.AIOKafkaProducer``."""
        prepare_clients(self)
        return {
            **self._common(),
            "acks": "all",
            "compression_type": None if self.compression == "none" else self.compression,
            "linger_ms": self.linger_ms,
            "max_batch_size": self.max_batch_bytes,
            "max_request_size": self.max_request_bytes,
            "enable_idempotence": not self.embedded_broker,
        }

    def consumer_config(self, group_id: str | None) -> dict[str, Any]:
        """Keyword arguments for ``aiokafka.AIOKafkaConsumer`` (manual commits)."""
        prepare_clients(self)
        return {
            **self._common(),
            "group_id": group_id,
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "isolation_level": "read_uncommitted",
            "session_timeout_ms": self.session_timeout_ms,
            "heartbeat_interval_ms": self.heartbeat_interval_ms,
            "max_poll_records": self.max_poll_records,
            "fetch_max_wait_ms": self.fetch_max_wait_ms,
            "max_partition_fetch_bytes": self.max_request_bytes,
        }

    def admin_config(self) -> dict[str, Any]:
        """Keyword arguments for ``aiokafka.admin.AIOKafkaAdminClient``."""
        prepare_clients(self)
        return self._common()

    def faust_config(self) -> dict[str, Any]:
        """Keyword arguments for ``faust.App`` (at-least-once; sinks are idempotent)."""
        prepare_clients(self)
        config: dict[str, Any] = {
            "broker": ";".join(f"kafka://{s}" for s in self.bootstrap_servers),
            "broker_client_id": self.client_id,
            "broker_session_timeout": self.session_timeout_ms / 1000,
            "broker_heartbeat_interval": self.heartbeat_interval_ms / 1000,
            "broker_request_timeout": self.request_timeout_ms / 1000,
            "broker_max_poll_records": self.max_poll_records,
            "producer_acks": -1,
            "producer_compression_type": None if self.compression == "none" else self.compression,
            "producer_linger": self.linger_ms / 1000,
            "producer_max_batch_size": self.max_batch_bytes,
            "producer_max_request_size": self.max_request_bytes,
            "processing_guarantee": "at_least_once",
            "topic_replication_factor": self.replicas(),
        }
        if self.security_protocol != "PLAINTEXT":
            import faust

            if self.security_protocol.startswith("SASL"):
                config["broker_credentials"] = faust.SASLCredentials(
                    username=self.sasl_username,
                    password=self.password(),
                    mechanism=self.sasl_mechanism,
                    ssl_context=self.ssl_context(),
                )
            else:
                config["broker_credentials"] = faust.SSLCredentials(self.ssl_context())
        return config


def prepare_clients(settings: KafkaSettings) -> None:
    """Apply process-wide client fixes the configured broker needs (idempotent)."""
    if settings.embedded_broker:
        from stream.kafka import tansu_compat, tansu_holes

        tansu_compat.apply()
        tansu_holes.apply()
