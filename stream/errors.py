"""The stream worker's errors and the machine-readable reasons of its dead letters."""

from __future__ import annotations

from enum import StrEnum


class DeadLetterReason(StrEnum):
    """Why a record went to the dead-letter topic (its ``reason`` header and metric label)."""

    INVALID_ENVELOPE = "invalid_envelope"  # not a decodable envelope, or inconsistent fields
    UNSUPPORTED_SCHEMA = "unsupported_schema"  # a schema_version this worker does not read
    NOT_ENROLLED = "not_enrolled"  # no enrollment covers this device, subject and time
    INVALID_READING = "invalid_reading"  # a reading the database cannot store (range, unit)
    IMPLAUSIBLE_VALUE = "implausible_value"  # storable but physiologically impossible
    IMPLAUSIBLE_TIME = "implausible_time"  # a time outside the window around receipt
    STORAGE_REJECTED = "storage_rejected"  # the database refused this envelope's rows
    INVALID_STATUS = "invalid_status"  # a gateway status message that does not decode


class StreamError(Exception):
    """Root of the stream worker's own errors; ``reason`` is machine-readable."""

    reason: str = "stream_error"


class MetricsPortError(StreamError, OSError):
    """The Prometheus endpoint could not bind its address (taken, or not this host's)."""

    reason = "metrics_port_unavailable"


def first_line(exc: BaseException) -> str:
    """An error's first message line (database errors add DETAIL/CONTEXT lines), or its
    type's name when it has no message: what a log line or a dead letter's detail shows."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
