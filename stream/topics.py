"""Kafka topic names, in one place, with their keys and default layout."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    key: str  # what the record key is
    partitions: int
    description: str
    compacted: bool = False


PREFIX = "trialwire"

RAW_READINGS = f"{PREFIX}.readings.raw.v1"
DEAD_LETTER = f"{PREFIX}.readings.dead-letter.v1"
FLAGS = f"{PREFIX}.flags.v1"
STATUS = f"{PREFIX}.status.v1"
WATERMARKS = f"{PREFIX}.watermarks.v1"

TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(RAW_READINGS, "subject code", 12,
              "Envelopes from gateways: one batch of one device's readings"),
    TopicSpec(DEAD_LETTER, "subject code (or gateway id if unknown)", 3,
              "Envelopes that failed validation, with the reason in headers"),
    TopicSpec(FLAGS, "subject code", 6, "Anomaly flags raised by the stream processors"),
    TopicSpec(STATUS, "gateway id", 6, "Gateway and device status telemetry", compacted=True),
    TopicSpec(WATERMARKS, "gateway id", 6,
              "Per-gateway, per-device persisted watermarks published by the sink",
              compacted=True),
)
