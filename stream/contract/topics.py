"""Kafka topic names, in one place, with their keys and default layout.

Names are ``<prefix>.<name>``; the prefix is ``trialwire`` unless
``TRIALWIRE_KAFKA_TOPIC_PREFIX`` says otherwise (separate environments on one cluster, and
tests that share a broker). :func:`names` gives every name for a prefix.
"""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = "trialwire"


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    key: str  # what the record key is
    partitions: int
    description: str
    compacted: bool = False


@dataclass(frozen=True, slots=True)
class TopicNames:
    """The platform's topic names under one prefix."""

    prefix: str = PREFIX

    @property
    def raw_readings(self) -> str:
        return f"{self.prefix}.readings.raw.v1"

    @property
    def dead_letter(self) -> str:
        return f"{self.prefix}.readings.dead-letter.v1"

    @property
    def flags(self) -> str:
        return f"{self.prefix}.flags.v1"

    @property
    def status(self) -> str:
        return f"{self.prefix}.status.v1"

    @property
    def watermarks(self) -> str:
        return f"{self.prefix}.watermarks.v1"

    def specs(self) -> tuple[TopicSpec, ...]:
        return (
            TopicSpec(self.raw_readings, "subject code", 12,
                      "Envelopes from gateways: one batch of one device's readings"),
            TopicSpec(self.dead_letter, "subject code (or gateway id if unknown)", 3,
                      "Envelopes that failed validation, with the reason in headers"),
            TopicSpec(self.flags, "subject code", 6,
                      "Anomaly flags raised by the stream processors"),
            TopicSpec(self.status, "gateway id", 6, "Gateway and device status telemetry",
                      compacted=True),
            TopicSpec(self.watermarks, "gateway id", 6,
                      "Per-gateway, per-device persisted watermarks published by the sink",
                      compacted=True),
        )


DEFAULT = TopicNames()
RAW_READINGS = DEFAULT.raw_readings
DEAD_LETTER = DEFAULT.dead_letter
FLAGS = DEFAULT.flags
STATUS = DEFAULT.status
WATERMARKS = DEFAULT.watermarks
TOPICS: tuple[TopicSpec, ...] = DEFAULT.specs()
