"""Gateway errors; ``reason`` is a stable code shown in status telemetry."""

from __future__ import annotations


class GatewayError(Exception):
    reason = "gateway_error"


class ConfigError(GatewayError, ValueError):
    """The gateway configuration file is missing, unreadable or invalid."""

    reason = "bad_config"


class ConnectError(GatewayError):
    """A device could not be connected after the capped retries."""

    reason = "connect_failed"

    def __init__(self, message: str, *, advice: str | None = None) -> None:
        super().__init__(message if advice is None else f"{message} ({advice})")
        self.advice = advice


class DeviceIdentityError(GatewayError):
    """The device's serial number is not the enrolled one, or could not be read as one."""

    reason = "identity_mismatch"


class DeviceBusyError(GatewayError):
    """A device answered "server busy" (e.g. RACP while it still serves a gone link)."""

    reason = "device_busy"


class SpoolFullError(GatewayError):
    """The spool hit its disk budget and the policy could not make room."""

    reason = "spool_full"


class MetricsPortError(GatewayError, OSError):
    """The Prometheus endpoint could not bind its address (taken, or not this host's)."""

    reason = "metrics_port_unavailable"


class PlatformUnavailable(GatewayError):
    """The platform cannot take uploads now (broker away, ingest overloaded or down);
    retried after ``retry_after_s`` if it said so, else with the usual backoff."""

    reason = "platform_unavailable"

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class UploadRefused(GatewayError):
    """The platform refuses this gateway (revoked or expired token, retired gateway): the
    spool keeps everything, and uploading is tried again only now and then."""

    reason = "upload_refused"


class BatchRejected(GatewayError):
    """The platform refused one envelope for good (413 too large, 422 invalid): the batch
    is dropped and reported as a gap, never re-sent for ever."""

    reason = "batch_rejected"

    def __init__(self, batch_id: str, device_id: str, gseq_from: int, gseq_to: int,
                 detail: str) -> None:
        super().__init__(f"batch {batch_id} ({device_id} {gseq_from}..{gseq_to}) "
                         f"rejected: {detail}")
        self.batch_id = batch_id
        self.detail = detail


class CollectionStopped(BatchRejected):
    """The platform takes nothing more measured for this gateway's subject (paused,
    withdrawn or completed; 410 Gone): the batch is narrowed down like any rejected one,
    so what was measured before the change still goes up, and the gateway stops
    collecting."""

    reason = "collection_stopped"
