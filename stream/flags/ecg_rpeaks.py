"""R-peak detection on a single-lead ECG, and the heart rate it implies.

A compact Pan-Tompkins (IEEE Trans Biomed Eng 1985): 5–15 Hz band-pass (QRS energy),
derivative, squaring, 150 ms moving-window integration, then peaks at least 250 ms apart
(no heart beats faster than 240/min) above a fraction of the window's strong peaks; each
peak is placed on the largest band-passed deflection within ±75 ms.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.signal import butter, find_peaks, sosfiltfilt

MIN_RR_S = 0.25
THRESHOLD = 0.3  # of the 98th percentile of the integrated signal


@lru_cache(maxsize=8)
def _band_pass(fs: float) -> np.ndarray:
    return butter(2, [5.0, min(15.0, fs / 2 - 1)], btype="bandpass", fs=fs, output="sos")


def r_peaks(samples: np.ndarray, fs: float) -> np.ndarray:
    """Pure: sample indices of the R peaks in ``samples`` (µV, ``fs`` Hz)."""
    x = np.asarray(samples, dtype=float)
    if len(x) < int(2 * fs):
        return np.array([], dtype=int)
    band = sosfiltfilt(_band_pass(fs), x - x.mean())
    energy = np.diff(band, prepend=band[0]) ** 2
    width = max(1, int(0.15 * fs))
    integrated = np.convolve(energy, np.ones(width) / width, mode="same")
    level = np.percentile(integrated, 98)
    if level <= 0:
        return np.array([], dtype=int)
    peaks, _ = find_peaks(integrated, height=THRESHOLD * level, distance=int(MIN_RR_S * fs))
    half = int(0.075 * fs)
    refined = [p - half + int(np.argmax(np.abs(band[max(0, p - half):p + half + 1])))
               if p >= half else int(np.argmax(np.abs(band[:p + half + 1]))) for p in peaks]
    return np.unique(np.clip(refined, 0, len(x) - 1))


def heart_rate(samples: np.ndarray, fs: float) -> float | None:
    """Median-RR heart rate (/min) of a window, or None with fewer than 3 beats."""
    peaks = r_peaks(samples, fs)
    if len(peaks) < 3:
        return None
    return 60.0 / float(np.median(np.diff(peaks) / fs))
