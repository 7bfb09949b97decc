"""Errors raised while starting, stopping or inspecting embedded services."""

from __future__ import annotations


class ServiceError(Exception):
    """Root of embedded-service errors; ``reason`` is a stable machine-readable code."""

    reason = "service_error"

    def __init__(self, message: str, *, advice: str | None = None) -> None:
        self.advice = advice
        super().__init__(message if advice is None else f"{message} ({advice})")


class BinaryMissingError(ServiceError):
    """A server binary that should ship with a wheel cannot be found."""

    reason = "binary_missing"


class PortInUseError(ServiceError):
    """The requested loopback port is already bound by another process."""

    reason = "port_in_use"


class DataDirNotWritableError(ServiceError):
    """The data directory cannot be created or written."""

    reason = "data_dir_not_writable"


class ServiceStartError(ServiceError):
    """A server process exited or never became healthy during start-up."""

    reason = "start_failed"


class NotConfiguredError(ServiceError):
    """Neither an external endpoint nor running embedded services are configured."""

    reason = "not_configured"
