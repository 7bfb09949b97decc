"""Errors of the devices package: every decode failure is a :class:`DecodeError`."""

from __future__ import annotations


class DeviceError(Exception):
    """Root of errors raised by ``devices``; ``reason`` is a stable machine-readable code."""

    reason = "device_error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class DecodeError(DeviceError, ValueError):
    """A GATT payload is truncated, over-long, inconsistent or fails its CRC."""

    reason = "decode_error"


class UnknownMetricError(DeviceError, KeyError):
    """A metric name is not in the vocabulary."""

    reason = "unknown_metric"

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])
