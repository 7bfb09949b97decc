"""A seeded, deterministic virtual subject: heart beats, ECG, SpO2, temperature, glucose.

Every signal is a function of simulated time ``t`` (seconds since the simulation start),
so any device can ask for any instant (a CGM backfilling its store, a watch sampling
each second) and get the same answer. Models:

- **Heart rhythm**: R-peak times from a tachogram with LF (0.1 Hz) and HF (0.25 Hz)
  modulation — the RR model of ECGSYN (McSharry et al., IEEE TBME 2003) — around a
  circadian mean rate; atrial fibrillation draws RR independently (log-normal, CV ~0.2).
- **ECG**: ECGSYN's P-Q-R-S-T Gaussian-sum morphology placed on each beat, widths and T
  position scaled by √RR (Bazett), plus respiratory baseline wander and sensor noise;
  in AF the P wave is replaced by 5 Hz fibrillatory waves.
- **Glucose**: Bergman's minimal model (glucose-insulin, with insulin secretion) fed by a
  gamma-shaped meal appearance (three seeded meals a day), a 10-minute
  plasma→interstitial lag, and AR(1) CGM sensor noise.
- **SpO2, temperature, battery**: baselines with circadian terms and smooth noise.

Scenario events shape the signals inside their windows (ramps fall outside them, so the
scripted window is the ground truth).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime

import numpy as np

from devices.sim.scenario import Event, EventKind, Scenario

# Transitions into and out of scenario states happen just outside the window (s).
RAMP_S = {EventKind.HYPOGLYCEMIA: 900.0, EventKind.HYPERGLYCEMIA: 1200.0,
          EventKind.TACHYCARDIA: 120.0, EventKind.BRADYCARDIA: 120.0,
          EventKind.ATRIAL_FIBRILLATION: 30.0, EventKind.DESATURATION: 60.0,
          EventKind.FEVER: 1200.0, EventKind.LOW_BATTERY: 600.0}


def _smooth_noise(rng: np.random.Generator, amplitude: float,
                  periods_s: tuple[float, ...],
                  ) -> Callable[[float | np.ndarray], float | np.ndarray]:
    """A deterministic smooth wiggle: sum of sinusoids with random phases."""
    phases = rng.uniform(0, 2 * math.pi, len(periods_s))
    weights = rng.uniform(0.5, 1.0, len(periods_s))
    weights = weights / weights.sum() * amplitude

    def f(t: float | np.ndarray) -> float | np.ndarray:
        total = 0.0
        for p, phase, w in zip(periods_s, phases, weights, strict=True):
            total = total + w * np.sin(2 * math.pi * np.asarray(t) / p + phase)
        return total

    return f


def _shaped(scenario: Scenario, kind: EventKind, t: float, base: float, default: float,
            param: str = "level", device: str | None = None) -> float:
    """``base`` moved to the event's target inside its window, with linear ramps of
    ``RAMP_S[kind]`` before the start and after the end (outside the ground-truth window).
    """
    ramp = RAMP_S.get(kind, 0.0)
    for event in scenario.events:
        if event.kind != kind or (device is not None and event.device not in (None, device)):
            continue
        target = event.params.get(param, default)
        if event.start_s <= t < event.end_s:
            return target
        if event.start_s - ramp <= t < event.start_s:
            w = (t - (event.start_s - ramp)) / ramp
            return base + (target - base) * w
        if event.end_s <= t < event.end_s + ramp:
            w = (t - event.end_s) / ramp
            return target + (base - target) * w
    return base


class Physiology:
    """One subject's signals; ``start`` places t = 0 in wall time (for circadian terms)."""

    def __init__(self, seed: int, scenario: Scenario, start: datetime) -> None:
        self.seed = seed
        self.scenario = scenario
        self.start = start
        rng = np.random.default_rng(seed)
        self._start_hour = start.hour + start.minute / 60 + start.second / 3600
        self.resting_hr = float(rng.uniform(60, 74))
        self.spo2_base = float(rng.uniform(96.0, 98.5))
        self.temp_base = float(rng.uniform(36.4, 36.8))
        self.battery_start = float(rng.uniform(70, 100))
        self._hr_wiggle = _smooth_noise(rng, 4.0, (1800.0, 420.0, 97.0))
        self._spo2_wiggle = _smooth_noise(rng, 0.6, (900.0, 210.0))
        self._temp_wiggle = _smooth_noise(rng, 0.08, (5400.0, 1300.0))
        self._hrv_phase = rng.uniform(0, 2 * math.pi, 2)
        self._beat_rng = np.random.default_rng([seed, 1])
        self._beats = np.array([float(rng.uniform(0, 0.8))])
        self._ecg_rng_seed = seed
        self._glucose = _GlucoseModel(np.random.default_rng([seed, 2]), self._start_hour)

    # -- scalar vitals ------------------------------------------------------------------

    def _hour_of_day(self, t: float) -> float:
        return (self._start_hour + t / 3600) % 24

    def mean_heart_rate(self, t: float) -> float:
        """Underlying rate (/min) at t: circadian, wiggle, then scenario overrides."""
        circadian = 6 * math.sin(2 * math.pi * (self._hour_of_day(t) - 9) / 24)
        rate = self.resting_hr + circadian + float(self._hr_wiggle(t))
        for kind in (EventKind.TACHYCARDIA, EventKind.BRADYCARDIA, EventKind.ATRIAL_FIBRILLATION):
            rate = _shaped(self.scenario, kind, t, rate, rate, "rate")
        return rate

    def in_af(self, t: float) -> Event | None:
        return self.scenario.active(EventKind.ATRIAL_FIBRILLATION, t)

    def spo2(self, t: float) -> float:
        base = self.spo2_base + float(self._spo2_wiggle(t))
        value = _shaped(self.scenario, EventKind.DESATURATION, t, base, 85.0)
        if value != base:
            value += float(self._spo2_wiggle(t * 3)) * 0.5
        return min(100.0, value)

    def temperature(self, t: float) -> float:
        circadian = 0.3 * math.sin(2 * math.pi * (self._hour_of_day(t) - 12) / 24)
        base = self.temp_base + circadian + float(self._temp_wiggle(t))
        return _shaped(self.scenario, EventKind.FEVER, t, base, 38.6)

    def battery(self, t: float, device: str) -> float:
        level = max(20.0, self.battery_start - t / 3600.0)
        return _shaped(self.scenario, EventKind.LOW_BATTERY, t, level, 9.0, device=device)

    # -- glucose ------------------------------------------------------------------------

    def _glucose_shaped(self, t: float, base: float) -> float:
        shaped = _shaped(self.scenario, EventKind.HYPOGLYCEMIA, t, base, 45.0)
        shaped = _shaped(self.scenario, EventKind.HYPERGLYCEMIA, t, shaped, 290.0)
        if shaped != base:
            shaped += 2.0 * math.sin(t / 300)  # keep episodes from being flat lines
        return shaped

    def plasma_glucose(self, t: float) -> float:
        """Blood glucose (mg/dL), what a finger-stick meter measures."""
        return self._glucose_shaped(t, self._glucose.plasma(t))

    def interstitial_glucose(self, t: float) -> float:
        """CGM reading (mg/dL): lagged interstitial glucose plus sensor noise."""
        base = self._glucose.interstitial(t) + self._glucose.sensor_noise(t)
        return max(40.0, self._glucose_shaped(t, base))

    # -- heart beats and ECG ------------------------------------------------------------

    def beats_until(self, t: float) -> np.ndarray:
        """All R-peak times up to (and one past) ``t``."""
        beats = self._beats
        if beats[-1] > t:
            return beats
        new: list[float] = []
        last = float(beats[-1])
        while last <= t:
            rate = self.mean_heart_rate(last)
            af = self.in_af(last)
            if af is not None:
                cv = af.params.get("cv", 0.22)
                rr = 60.0 / rate * float(self._beat_rng.lognormal(-cv * cv / 2, cv))
                rr = min(max(rr, 0.3), 2.0)
            else:
                lf = 0.04 * math.sin(2 * math.pi * 0.1 * last + self._hrv_phase[0])
                hf = 0.03 * math.sin(2 * math.pi * 0.25 * last + self._hrv_phase[1])
                rr = 60.0 / rate * (1 + lf + hf + float(self._beat_rng.normal(0, 0.01)))
            last += rr
            new.append(last)
        self._beats = np.concatenate([beats, np.array(new)])
        return self._beats

    def beats_between(self, a: float, b: float) -> np.ndarray:
        beats = self.beats_until(b)
        return beats[(beats >= a) & (beats < b)]

    def rr_intervals_ending(self, a: float, b: float) -> list[tuple[float, float]]:
        """(R-peak time, RR seconds) for beats in [a, b)."""
        beats = self.beats_until(b)
        idx = np.nonzero((beats >= a) & (beats < b))[0]
        return [(float(beats[i]), float(beats[i] - beats[i - 1])) for i in idx if i > 0]

    def heart_rate_at(self, t: float, window: int = 4) -> float:
        """Rate a device would report at t: from the last few RR intervals."""
        beats = self.beats_until(t)
        past = beats[beats <= t]
        if len(past) < 2:
            return self.mean_heart_rate(t)
        recent = np.diff(past[-(window + 1):])
        return 60.0 / float(recent.mean())

    def ecg_uv(self, times: np.ndarray) -> np.ndarray:
        """Lead-I-like ECG in µV at the given sample times (seconds)."""
        times = np.asarray(times, dtype=float)
        beats = self.beats_until(float(times.max()) + 2.5)
        out = np.zeros_like(times)
        k = np.searchsorted(beats, times)
        for offset in (-1, 0):  # the R peak before and after each sample
            raw = k + offset
            valid = (raw >= 0) & (raw < len(beats))
            idx = np.clip(raw, 0, len(beats) - 1)
            r = beats[idx]
            prev = np.clip(idx - 1, 0, len(beats) - 1)
            rr = np.where(idx > 0, beats[idx] - beats[prev], 60.0 / self.resting_hr)
            dt = np.where(valid, times - r, 10.0)  # 10 s away: contributes nothing
            scale = np.sqrt(rr)
            af = np.array([self.in_af(float(x)) is not None for x in r])
            for amp, centre, width, is_p in _WAVES:
                c = centre * (scale if centre > 0.1 else 1.0)
                w = width * scale
                wave = amp * np.exp(-((dt - c) ** 2) / (2 * w * w))
                if is_p:
                    wave = np.where(af, 0.0, wave)
                out += wave
        if self.scenario.events:
            in_af = np.array([self.in_af(float(t)) is not None for t in times])
            out += np.where(in_af, 60.0 * np.sin(2 * math.pi * 5.0 * times), 0.0)
        out += 50.0 * np.sin(2 * math.pi * 0.25 * times)  # respiratory baseline wander
        noise = np.random.default_rng([self._ecg_rng_seed, int(times[0] * 1000)])
        out += noise.normal(0.0, 8.0, len(times))
        return out


# ECGSYN's five waves as (amplitude µV, centre s, width s, is the P wave). The T wave's
# centre scales with √RR (Bazett); all widths scale with √RR.
_WAVES = (
    (150.0, -0.20, 0.025, True),
    (-120.0, -0.03, 0.010, False),
    (1200.0, 0.0, 0.012, False),
    (-250.0, 0.035, 0.012, False),
    (300.0, 0.26, 0.060, False),
)


class _GlucoseModel:
    """Bergman minimal model with insulin secretion, integrated on a 1-minute grid."""

    G_BASAL = 92.0  # mg/dL
    I_BASAL = 8.0  # µU/mL
    P1, P2, P3 = 0.028, 0.025, 1.3e-5  # /min, /min, /min² per µU/mL
    N_CLEAR = 0.2  # insulin clearance /min
    GAMMA = 0.0045  # secretion (µU/mL)/min per mg/dL above basal, per min
    VOLUME = 1.6  # dL/kg
    BODY_WEIGHT = 75.0  # kg
    MEAL_TAU = 40.0  # min, gamma-shaped appearance
    ISF_TAU = 10.0  # min, plasma → interstitial lag

    def __init__(self, rng: np.random.Generator, start_hour: float) -> None:
        self.rng = rng
        self.start_hour = start_hour
        self.g = np.array([self.G_BASAL])
        self.gi = np.array([self.G_BASAL])
        self._x = 0.0
        self._i = self.I_BASAL
        self._meals: list[tuple[float, float]] = []  # (minute, grams)
        self._noise = np.zeros(1)
        self._planned_days: set[int] = set()

    def _plan_meals(self, day: int) -> None:
        if day in self._planned_days:
            return
        self._planned_days.add(day)
        rng = np.random.default_rng([int(self.rng.integers(1 << 30)), day])
        for hour, grams in ((7.5, 50.0), (12.5, 70.0), (19.0, 80.0)):
            minute = (day * 24 + hour - self.start_hour) * 60 + rng.normal(0, 25)
            self._meals.append((minute, grams * rng.uniform(0.7, 1.2)))

    def _ra(self, minute: float) -> float:
        """Glucose appearance from meals, mg/kg/min."""
        total = 0.0
        for start, grams in self._meals:
            dt = minute - start
            if 0 <= dt < 8 * self.MEAL_TAU:
                total += 0.9 * grams * 1000 / self.BODY_WEIGHT * dt / self.MEAL_TAU ** 2 \
                    * math.exp(-dt / self.MEAL_TAU)
        return total

    def _extend(self, minute: int) -> None:
        n = len(self.g)
        if minute < n:
            return
        target = minute + 24 * 60
        for day in range(int((n / 60 + self.start_hour) // 24),
                         int((target / 60 + self.start_hour) // 24) + 2):
            self._plan_meals(day)
        g_list, gi_list = list(self.g), list(self.gi)
        g, gi, x, ins = g_list[-1], gi_list[-1], self._x, self._i
        for m in range(n, target + 1):
            for _ in range(6):  # 10-second Euler steps
                h = 1 / 6
                ra = self._ra(m - 1 + _ / 6)
                dg = -(self.P1 + x) * g + self.P1 * self.G_BASAL + ra / self.VOLUME
                dx = -self.P2 * x + self.P3 * (ins - self.I_BASAL)
                di = -self.N_CLEAR * (ins - self.I_BASAL) + self.GAMMA * max(g - self.G_BASAL, 0) * 10
                dgi = (g - gi) / self.ISF_TAU
                g, x, ins, gi = g + h * dg, x + h * dx, max(ins + h * di, 0.0), gi + h * dgi
            g_list.append(g)
            gi_list.append(gi)
        self.g, self.gi, self._x, self._i = np.array(g_list), np.array(gi_list), x, ins
        noise = list(self._noise)
        while len(noise) < (target // 5) + 2:
            noise.append(0.7 * noise[-1] + float(self.rng.normal(0, 3.5)))
        self._noise = np.array(noise)

    def _interp(self, series_name: str, t: float) -> float:
        minute = t / 60.0
        self._extend(int(minute) + 1)
        series = self.g if series_name == "g" else self.gi
        lo = int(minute)
        frac = minute - lo
        return float(series[lo] * (1 - frac) + series[lo + 1] * frac)

    def plasma(self, t: float) -> float:
        return self._interp("g", t)

    def interstitial(self, t: float) -> float:
        return self._interp("gi", t)

    def sensor_noise(self, t: float) -> float:
        self._extend(int(t / 60) + 1)
        return float(self._noise[int(t / 300)])
