"""Where the gateway gets "now": the system clock, or a scaled clock shared with
simulators that play time faster (``--time-scale``), so receive times line up with the
virtual wearables' simulated time."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class ScaledClock:
    """``speed`` seconds pass per real second, starting at ``origin`` (UTC) now."""

    origin: datetime
    speed: float
    _start: float = field(default_factory=time.monotonic)

    def now(self) -> datetime:
        return self.origin + timedelta(seconds=(time.monotonic() - self._start) * self.speed)
