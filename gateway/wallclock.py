"""Where the gateway gets "now": the system clock, or a scaled clock shared with
simulators that play time faster (``--time-scale``), so receive times line up with the
virtual wearables' simulated time."""

from __future__ import annotations

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
    """Simulated time: ``speed`` seconds pass per real second.

    ``origin`` is the simulated instant at real (wall-clock) instant ``real_origin``
    (default: now). Simulators started at wall time W with start W share the clock given
    ``ScaledClock(W, speed, real_origin=W)``, even across processes.
    """

    origin: datetime
    speed: float
    real_origin: datetime = field(default_factory=lambda: datetime.now(UTC))

    def now(self) -> datetime:
        elapsed = (datetime.now(UTC) - self.real_origin).total_seconds()
        return self.origin + timedelta(seconds=elapsed * self.speed)
