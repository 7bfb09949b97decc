"""Heart rate derived from streamed ECG segments, for the heart-rate rules.

Per ECG device and lead, contiguous segments are buffered in memory and every 10 s window
yields one ``ecg_heart_rate`` observation (R peaks, :mod:`stream.flags.ecg_rpeaks`),
stamped with the window's end. Derived values are judged, not stored. The buffer holds
at most one window, so a restarted worker loses at most 10 s of derivation; a gap of more
than half a second between segments starts a new window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from devices.model import Observation, WaveformSegment
from stream.flags.ecg_rpeaks import heart_rates

WINDOW_S = 10.0
MAX_JOIN_GAP_S = 0.5
METRIC = "ecg_heart_rate"


@dataclass
class _Window:
    start: datetime
    rate_hz: float
    samples: list[float] = field(default_factory=list)

    @property
    def end(self) -> datetime:
        return self.start + timedelta(seconds=len(self.samples) / self.rate_hz)


class EcgHeartRate:
    def __init__(self) -> None:
        self._windows: dict[tuple[str, str], _Window] = {}
        self._lead: dict[tuple[str, str], str] = {}

    def add(self, segments: list[WaveformSegment]) -> list[Observation]:
        """Feed newly stored segments; returns the heart rates of completed windows.

        The completed windows of the whole batch are judged together (one array per
        sampling rate, :func:`heart_rates`)."""
        done: list[tuple[WaveformSegment, datetime, float, list[float]]] = []
        for seg in sorted(segments, key=lambda s: s.time):
            key = (seg.subject, seg.device_id)
            if self._lead.setdefault(key, seg.lead) != seg.lead:
                continue  # one lead per device is enough for a rate
            window = self._windows.get(key)
            if (window is None or window.rate_hz != seg.sampling_rate_hz
                    or abs((seg.time - window.end).total_seconds()) > MAX_JOIN_GAP_S):
                window = self._windows[key] = _Window(seg.time, seg.sampling_rate_hz)
            window.samples.extend(seg.samples)
            size = int(WINDOW_S * window.rate_hz)
            while len(window.samples) >= size:
                chunk, rest = window.samples[:size], window.samples[size:]
                end = window.start + timedelta(seconds=WINDOW_S)
                done.append((seg, end, window.rate_hz, chunk))
                window = self._windows[key] = _Window(end, window.rate_hz, rest)
        rates: dict[int, float | None] = {}
        for fs in {fs for _seg, _end, fs, _chunk in done}:
            picked = [i for i, (_seg, _end, rate, _chunk) in enumerate(done) if rate == fs]
            found = heart_rates(np.array([done[i][3] for i in picked]), fs)
            rates.update(zip(picked, found, strict=True))
        out: list[Observation] = []
        for i, (seg, end, _fs, _chunk) in enumerate(done):
            rate = rates[i]
            if rate is not None:
                out.append(Observation(
                    time=end, subject=seg.subject, device_id=seg.device_id, metric=METRIC,
                    value=round(rate, 1), unit="/min", seq=0, received_at=seg.received_at,
                    quality=seg.quality, gateway_id=seg.gateway_id))
        return out
