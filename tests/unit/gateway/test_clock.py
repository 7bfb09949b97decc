"""The device clock estimate: offset from the running maxima, drift only when it is
measured over long enough and is a drift a clock can have (a starved CPU once made the
gateway send -1e6 ppm, which the platform rightly refused)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gateway.clock import MAX_DRIFT_PPM, ClockEstimator

T0 = datetime(2026, 12, 7, tzinfo=UTC)


def observe(estimator: ClockEstimator, seconds: float, offset_s: float) -> None:
    received = T0 + timedelta(seconds=seconds)
    estimator.observe(received + timedelta(seconds=offset_s), received)


def test_a_real_drift_is_measured_over_ten_minutes() -> None:
    est = ClockEstimator()
    for i in range(16 * 8):  # one observation every 10 s for ~21 minutes
        observe(est, i * 10.0, 2.0 + i * 10.0 * 50e-6)  # 2 s ahead, gaining 50 ppm
    assert abs(est.offset_s - (2.0 + 127 * 10.0 * 50e-6)) < 1e-6
    assert abs(est.drift_ppm - 50.0) < 1.0


def test_no_drift_from_a_short_span() -> None:
    est = ClockEstimator()
    for i in range(16 * 8):  # a minute of data: the slope means nothing yet
        observe(est, i * 0.5, 2.0 + i * 0.5 * 50e-6)
    assert est.drift_ppm == 0.0


def test_delays_of_a_starved_cpu_fake_no_drift() -> None:
    """Observations delayed by seconds, then on time again: a slope of tens of thousands
    of ppm that no clock has. It is not reported (0.0: not estimated)."""
    est = ClockEstimator()
    for i in range(16 * 8):
        delay = 30.0 if 40 <= i < 90 else 0.0
        observe(est, i * 10.0 + delay, -delay + (i * 10.0 if i >= 90 else 0.0) * 0.05)
    assert abs(est.drift_ppm) <= MAX_DRIFT_PPM
