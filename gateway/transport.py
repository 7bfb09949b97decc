"""How a gateway reaches the platform: the four things its uploader needs, whichever way
it is connected.

- ``ingest`` (the default, ``gateway/http_transport.py``): HTTPS to the platform's ingest
  service with the gateway's own token; Kafka stays inside the platform.
- ``kafka`` (``gateway/kafka_transport.py``): a site hub inside the platform's network
  produces to Kafka itself.

The spool, batching, ordering, the re-send decision and the persisted-watermark deletion
rule are the same for both (``gateway/uploader.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from gateway.spool import Batch
from stream.contract.loss_evidence import AckedBatch, Verdict
from stream.contract.status import GatewayStatus


@dataclass(frozen=True, slots=True)
class Placed:
    """Where the broker put an acknowledged batch (None where it was not said)."""

    partition: int | None
    offset: int | None


class Transport(Protocol):
    def send(self, batches: list[Batch]) -> AsyncIterator[tuple[Batch, Placed]]:
        """Send ``batches`` in order; yield each, with where it was placed, once it is
        acknowledged (those yielded before an error stay acknowledged)."""
        ...

    async def judge(self, overdue: list[AckedBatch]) -> dict[str, Verdict]:
        """The platform's evidence on batches overdue for a persisted watermark."""
        ...

    def persisted(self) -> AsyncIterator[dict[str, int]]:
        """Persisted watermarks for this gateway (device → sequence), as they arrive;
        raises on a lost connection (the caller reconnects)."""
        ...

    async def publish_status(self, status: GatewayStatus) -> str | None:
        """Send the status; the platform's word that collection has stopped for this
        gateway's subject (why), or None."""
        ...

    async def close(self) -> None:
        ...
