"""The simulators' own record of every reading they emitted (ground truth for loss checks).

A reading counts as emitted when it went over the air to a subscribed central, or — for
devices with a record store (CGM, glucose meter) — when it was stored, since the gateway
must then fetch it by RACP backfill even if the link was down.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import IO

import msgspec


class Emission(msgspec.Struct, frozen=True, kw_only=True, array_like=True):
    device: str  # serial
    metric: str  # vocabulary name, or "ecg_samples" for a waveform frame
    key: int  # record number / sequence the device attaches, or its notification counter
    time: datetime  # true UTC time of the measurement
    value: float  # the value, or the sample count of a waveform frame
    stored: bool = False  # emitted into the device's record store (backfillable)
    # Sent as its link dropped: it may or may not have reached the central (an indication
    # whose confirmation never came, a notification the controller held at the drop).
    in_doubt: bool = False


EmissionSink = Callable[[Emission], None]


class EmissionLog:
    """Collects emissions in memory and optionally appends them to a JSON-lines file."""

    def __init__(self, path: Path | None = None) -> None:
        self.items: list[Emission] = []
        self._file: IO[bytes] | None = path.open("ab") if path is not None else None
        self._encoder = msgspec.json.Encoder()

    def __call__(self, emission: Emission) -> None:
        self.items.append(emission)
        if self._file is not None:
            self._file.write(self._encoder.encode(emission) + b"\n")
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def by_metric(self, metric: str) -> list[Emission]:
        return [e for e in self.items if e.metric == metric]


def unsent_path(emissions: Path) -> Path:
    """Where a home writes, per device serial, how many notifications it queued but never
    sent (``devices/sim/air_delivery.py``): beside its emission log."""
    return emissions.with_name(emissions.stem + ".unsent.json")


def read_unsent(emissions: Path) -> dict[str, int]:
    path = unsent_path(emissions)
    return msgspec.json.decode(path.read_bytes(), type=dict[str, int]) if path.exists() else {}


def read_emissions(path: Path) -> list[Emission]:
    decoder = msgspec.json.Decoder(Emission)
    with path.open("rb") as fh:
        return [decoder.decode(line) for line in fh if line.strip()]
