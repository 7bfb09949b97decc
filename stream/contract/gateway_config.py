"""A gateway's identity and configuration: which subject, which devices, where to upload.

The platform issues it at enrollment (``api/``) and the gateway loads it from a file
(``gateway/config.py``); both sides read this one definition."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from devices.catalog import DeviceType

Code = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
Address = Annotated[str, msgspec.Meta(pattern=r"^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$")]


class DeviceEntry(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: Code  # the platform's device id (registry)
    type: DeviceType
    address: Address
    serial: str | None = None


class GatewayConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    gateway_id: Code
    study: Code
    subject: Code  # pseudonymous subject code
    devices: list[DeviceEntry]
    spool_path: str | None = None  # default: <data dir>/gateway-<id>/spool.sqlite
    spool_budget_mb: Annotated[float, msgspec.Meta(gt=0)] = 512.0
    batch_max_items: Annotated[int, msgspec.Meta(ge=1, le=50_000)] = 2_000
    batch_linger_ms: Annotated[int, msgspec.Meta(ge=0)] = 200
    # An unpersisted batch is checked against the broker after this, and re-sent only if
    # the broker lost it or the platform's consumer group read past it without storing it;
    # where that group's position is unknown, one the broker holds is re-sent after
    # resend_unpersisted_after_s, then twice that, and so on (stream/contract/loss_evidence.py).
    resend_after_s: Annotated[float, msgspec.Meta(gt=0)] = 60.0
    resend_unpersisted_after_s: Annotated[float, msgspec.Meta(gt=0)] = 900.0
    # The stream worker's consumer group (its app id, `TRIALWIRE_STREAM_APP_ID`).
    platform_group: Code = "trialwire-stream"
    status_interval_s: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    availability_timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 30.0
    connect_attempts: Annotated[int, msgspec.Meta(ge=1)] = 6
    # Battery Level of a device that does not notify it is read this often (real seconds).
    battery_read_interval_s: Annotated[float, msgspec.Meta(gt=0)] = 900.0
    # Set by `trialwire gateway enroll`: the platform API and the file holding this
    # gateway's API token (never the token itself: config files get copied around).
    api_url: str | None = None
    api_token_file: str | None = None
    # How batches reach the platform: "ingest" (HTTPS to api_url with the token) or
    # "kafka" (a site hub inside the platform's network, producing to Kafka itself).
    upload: Literal["ingest", "kafka"] = "ingest"
    # Plain http to a host other than loopback sends the token and health data in clear.
    allow_plain_http: bool = False

    def device(self, device_id: str) -> DeviceEntry:
        for entry in self.devices:
            if entry.id == device_id:
                return entry
        raise KeyError(device_id)

    def by_address(self) -> dict[str, DeviceEntry]:
        return {d.address.upper(): d for d in self.devices}
