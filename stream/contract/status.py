"""Gateway and device status telemetry (the status topic, keyed by gateway id)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

UtcTime = Annotated[datetime, msgspec.Meta(tz=True)]


class DeviceStatus(msgspec.Struct, kw_only=True):
    device_id: str
    device_type: str
    connected: bool = False
    available: bool = False  # data arrived within the availability timeout
    rssi: int | None = None
    battery: float | None = None
    last_reading_at: UtcTime | None = None
    clock_offset_ms: float | None = None
    clock_drift_ppm: float | None = None
    readings: int = 0
    malformed: dict[str, int] = {}  # decode-error reason -> count
    reconnects: int = 0
    last_error: str | None = None


class SpoolStatus(msgspec.Struct, kw_only=True):
    items: int = 0
    unbatched: int = 0
    batches_unacknowledged: int = 0
    batches_unpersisted: int = 0
    used_bytes: int = 0
    budget_bytes: int = 0
    dropped: dict[str, int] = {}  # by priority, never silent
    duplicate_records: int = 0


class UploadStatus(msgspec.Struct, kw_only=True):
    broker_reachable: bool = False
    batches_sent: int = 0
    resends: int = 0
    lost_by_broker: int = 0  # acknowledged batches the broker no longer held (re-sent)
    skipped_by_platform: int = 0  # held by the broker, read past by the worker (re-sent)
    resent_unpersisted: int = 0  # held, worker's position unknown, unpersisted for long
    loss_reports: int = 0  # ranges dropped over the spool budget, reported to the platform
    rejected_batches: int = 0  # refused for good by the ingest service (reported as gaps)
    last_ack_at: UtcTime | None = None
    last_error: str | None = None
    ack_latency_ms: dict[str, float] = {}  # notification -> Kafka ack: p50, p99, max, count


class GatewayStatus(msgspec.Struct, kw_only=True):
    gateway_id: str
    subject: str
    at: UtcTime
    devices: list[DeviceStatus]
    spool: SpoolStatus
    upload: UploadStatus
    unknown_devices: list[str] = []  # addresses seen advertising, not in the config


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(GatewayStatus)


def encode(status: GatewayStatus) -> bytes:
    return _encoder.encode(status)


def decode(data: bytes) -> GatewayStatus:
    return _decoder.decode(data)
