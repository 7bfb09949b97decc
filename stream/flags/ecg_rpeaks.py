"""R-peak detection on a single-lead ECG, and the heart rate it implies.

A compact Pan-Tompkins (IEEE Trans Biomed Eng 1985): 5–15 Hz band-pass (QRS energy),
derivative, squaring, 150 ms moving-window integration, then peaks at least 250 ms apart
(no heart beats faster than 240/min) above a fraction of the window's strong peaks; each
peak is placed on the largest band-passed deflection within ±75 ms.

Windows of equal length are processed together as the rows of one array: the filtering,
integration and thresholds are then a handful of numpy calls for a whole batch, which is
what lets one worker keep up with a million ECG samples a second; only the peak search
runs per window.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.signal import butter, find_peaks, sosfilt, sosfilt_zi

MIN_RR_S = 0.25
THRESHOLD = 0.3  # of the 98th percentile of the integrated signal


@lru_cache(maxsize=8)
def _band_pass(fs: float) -> tuple[np.ndarray, np.ndarray, int]:
    """The filter's second-order sections, their step-response initial state
    (``sosfilt_zi``, which ``sosfiltfilt`` would recompute on every call) and the
    odd-extension pad length ``sosfiltfilt`` uses by default."""
    sos = butter(2, [5.0, min(15.0, fs / 2 - 1)], btype="bandpass", fs=fs, output="sos")
    pad = 3 * (2 * len(sos) + 1 - min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum())))
    return sos, sosfilt_zi(sos), pad


def _filtfilt(fs: float, x: np.ndarray) -> np.ndarray:
    """``scipy.signal.sosfiltfilt(sos, x, axis=1)`` (odd padding) with the cached state."""
    sos, zi, pad = _band_pass(fs)
    pad = min(pad, x.shape[1] - 1)
    # Odd extension at both ends, as scipy.signal._arraytools.odd_ext.
    left = 2 * x[:, :1] - x[:, pad:0:-1]
    right = 2 * x[:, -1:] - x[:, -2:-pad - 2:-1]
    ext = np.concatenate([left, x, right], axis=1)
    state = zi[:, None, :]  # (sections, 1, 2) broadcast over the rows
    y, _ = sosfilt(sos, ext, axis=1, zi=state * ext[None, :, :1])
    y, _ = sosfilt(sos, y[:, ::-1], axis=1, zi=state * y[None, :, -1:])
    filtered: np.ndarray = y[:, ::-1][:, pad:-pad]
    return filtered


def _moving_mean(energy: np.ndarray, width: int) -> np.ndarray:
    """``np.convolve(row, ones(width) / width, "same")`` for every row, by cumulative sums."""
    n = energy.shape[1]
    sums = np.zeros((energy.shape[0], n + 1))
    np.cumsum(energy, axis=1, out=sums[:, 1:])
    i = np.arange(n)
    lo = np.clip(i - width // 2, 0, n)
    hi = np.clip(i + (width - 1) // 2 + 1, 0, n)
    return (sums[:, hi] - sums[:, lo]) / width


def r_peaks_many(windows: np.ndarray, fs: float) -> list[np.ndarray]:
    """Pure: the R-peak sample indices of each row of ``windows`` (µV, ``fs`` Hz)."""
    x = np.atleast_2d(np.asarray(windows, dtype=float))
    count, n = x.shape
    if count == 0 or n < int(2 * fs):
        return [np.array([], dtype=int) for _ in range(count)]
    band = _filtfilt(fs, x - x.mean(axis=1, keepdims=True))
    energy = np.diff(band, axis=1, prepend=band[:, :1]) ** 2
    integrated = _moving_mean(energy, max(1, int(0.15 * fs)))
    levels = np.percentile(integrated, 98, axis=1)
    half = int(0.075 * fs)
    offsets = np.arange(-half, half + 1)
    found = []
    for row, level in enumerate(levels):
        if level <= 0:
            found.append(np.array([], dtype=int))
            continue
        peaks, _ = find_peaks(integrated[row], height=THRESHOLD * level,
                              distance=int(MIN_RR_S * fs))
        # Largest deflection within ±75 ms; at the edges the window is cut short (the
        # clipped indices repeat the edge sample, which argmax never prefers to it).
        around = np.clip(peaks[:, None] + offsets, 0, n - 1)
        refined = np.take_along_axis(around, np.argmax(np.abs(band[row][around]), axis=1)[:, None],
                                     axis=1)[:, 0]
        found.append(np.unique(refined))
    return found


def r_peaks(samples: np.ndarray, fs: float) -> np.ndarray:
    """Pure: sample indices of the R peaks in ``samples`` (µV, ``fs`` Hz)."""
    return r_peaks_many(np.asarray(samples, dtype=float)[None, :], fs)[0]


def _rate(peaks: np.ndarray, fs: float) -> float | None:
    if len(peaks) < 3:
        return None
    return 60.0 / float(np.median(np.diff(peaks) / fs))


def heart_rates(windows: np.ndarray, fs: float) -> list[float | None]:
    """Median-RR heart rate (/min) of each row, or None for a row with fewer than 3 beats."""
    return [_rate(peaks, fs) for peaks in r_peaks_many(windows, fs)]


def heart_rate(samples: np.ndarray, fs: float) -> float | None:
    """Median-RR heart rate (/min) of a window, or None with fewer than 3 beats."""
    return _rate(r_peaks(samples, fs), fs)
