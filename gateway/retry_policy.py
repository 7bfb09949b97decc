"""Which gateway errors are worth retrying, and how fast: the policies every retry loop
of the daemon hands to ``stamina`` (capped exponential backoff with jitter).

One place decides what is transient: a lost BLE link or a broker that is away for a
while is retried; anything else is a bug or a bad configuration and surfaces.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from aiokafka.errors import KafkaError
from bleak.exc import BleakError

from gateway.errors import PlatformUnavailable

# A radio that lost the device, a connect that timed out, a socket the stack closed.
BLE_TRANSIENT: tuple[type[Exception], ...] = (BleakError, TimeoutError, OSError)
# The broker is restarting, unreachable, or slow to acknowledge.
BROKER_TRANSIENT: tuple[type[Exception], ...] = (KafkaError, TimeoutError, OSError)
# ... and the same through whichever transport uploads (the ingest service says so itself).
UPLOAD_TRANSIENT: tuple[type[Exception], ...] = (*BROKER_TRANSIENT, PlatformUnavailable)


@dataclass(frozen=True, slots=True)
class Backoff:
    """stamina's wait parameters: initial·base^n plus up to ``jitter``, capped at ``max``."""

    initial_s: float
    max_s: float
    jitter_s: float

    def delay_s(self, failures: int) -> float:
        """The wait after ``failures`` (≥ 1) failures in a row, for loops that supervise
        rather than retry one call (a device session reconnecting)."""
        exponential = self.initial_s * 2.0 ** min(max(failures - 1, 0), 16)
        return min(self.max_s, exponential + random.uniform(0, self.jitter_s))  # noqa: S311  # jitter, not a secret

    def stamina_kwargs(self) -> dict[str, Any]:
        return {"wait_initial": self.initial_s, "wait_max": self.max_s,
                "wait_jitter": self.jitter_s, "timeout": None}


# Connecting to a wearable: quick first retries, at most 8 s apart.
CONNECT = Backoff(initial_s=0.25, max_s=8.0, jitter_s=0.25)
# Uploading and following watermarks: the broker may be down for minutes.
BROKER = Backoff(initial_s=0.5, max_s=10.0, jitter_s=0.5)
# Writing the spool (SQLite): a full disk or a locked file clears on its own or not at all.
SPOOL = Backoff(initial_s=0.5, max_s=5.0, jitter_s=0.25)
# A device busy with a request of ours whose link is gone.
DEVICE_BUSY = Backoff(initial_s=2.0, max_s=4.0, jitter_s=0.5)
# A device session that could not connect, or whose set-up failed once connected.
RECONNECT = Backoff(initial_s=2.0, max_s=30.0, jitter_s=1.0)
