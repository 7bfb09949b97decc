"""Simulated time: ``speed`` simulated seconds pass per real second, from ``start``.

Virtual wearables schedule everything on this clock, so a test can play an hour of
physiology in a few minutes. Device clocks (which may drift) are derived from it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass
class SimClock:
    start: datetime  # UTC instant of t = 0
    speed: float = 1.0
    _origin: float = field(default_factory=time.monotonic)

    def t(self) -> float:
        """Simulated seconds since start."""
        return (time.monotonic() - self._origin) * self.speed

    def at(self, t: float) -> datetime:
        """UTC instant of simulated second ``t``."""
        return self.start + timedelta(seconds=t)

    def now(self) -> datetime:
        return self.at(self.t())

    async def sleep_until(self, t: float) -> None:
        # Always yields, even when behind: a producer catching up must not starve the
        # loop (signal handlers, link events, other devices).
        await asyncio.sleep(max(0.0, (t - self.t()) / self.speed))


@dataclass(frozen=True, slots=True)
class DeviceClock:
    """A device's own clock: true time plus a fixed offset and a drift (ppm)."""

    offset_s: float = 0.0
    drift_ppm: float = 0.0

    def read(self, clock: SimClock, t: float) -> datetime:
        """What the device's clock shows at simulated second ``t`` (UTC-based, naive-free)."""
        return clock.at(t + self.offset_s + t * self.drift_ppm * 1e-6)
