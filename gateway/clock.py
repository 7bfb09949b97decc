"""Per-device clock offset and drift, estimated from live timestamped data.

A device clock reads D = t + θ at true time t; a value stamped D on the device reaches us
at r = t + δ with δ ≥ 0 (radio and stack delay). So D − r = θ − δ ≤ θ: the *largest*
recent observation is the best offset estimate. Drift is the slope of the running
maxima over time. Only live data is observed; backfilled records are converted with the
current estimate.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

WINDOW = 32  # observations per max-envelope window
HISTORY = 16  # windows kept for the drift fit
# A drift is reported only from maxima spread over this much time, and only if a clock
# could drift that much (quartz: tens of ppm; a cheap RC oscillator: ~1 %). A starved CPU
# delays observations by seconds and fakes slopes of millions of ppm otherwise.
MIN_DRIFT_SPAN_S = 600.0
MAX_DRIFT_PPM = 10_000.0


@dataclass
class ClockEstimator:
    _window: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW))
    _maxima: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=HISTORY))
    _count: int = 0
    samples: int = 0

    def observe(self, device_time: datetime, received_at: datetime) -> None:
        """One live observation: ``device_time`` (device clock, as UTC-naive or aware)."""
        device = device_time.replace(tzinfo=received_at.tzinfo)
        offset = (device - received_at).total_seconds()
        self._window.append(offset)
        self.samples += 1
        self._count += 1
        if self._count % (WINDOW // 2) == 0:
            self._maxima.append((received_at.timestamp(), max(self._window)))

    @property
    def known(self) -> bool:
        return self.samples > 0

    @property
    def offset_s(self) -> float:
        return max(self._window) if self._window else 0.0

    @property
    def drift_ppm(self) -> float:
        """Least-squares slope of the window maxima, in parts per million; 0.0 (not
        estimated) until they span ``MIN_DRIFT_SPAN_S``, or when the slope is beyond any
        real clock's (``MAX_DRIFT_PPM``)."""
        if len(self._maxima) < 3 or \
                self._maxima[-1][0] - self._maxima[0][0] < MIN_DRIFT_SPAN_S:
            return 0.0
        ts = [t for t, _ in self._maxima]
        os_ = [o for _, o in self._maxima]
        mt, mo = sum(ts) / len(ts), sum(os_) / len(os_)
        den = sum((t - mt) ** 2 for t in ts)
        if den == 0:
            return 0.0
        slope = sum((t - mt) * (o - mo) for t, o in zip(ts, os_, strict=True)) / den * 1e6
        return slope if abs(slope) <= MAX_DRIFT_PPM else 0.0

    def to_utc(self, device_time: datetime, tz: object) -> datetime:
        """Convert a device-clock time to UTC with the current offset estimate."""
        return device_time.replace(tzinfo=tz) - timedelta(seconds=self.offset_s)  # type: ignore[arg-type]
