"""The ingest rate limit: a burst is allowed, then requests at the sustained rate; the
wait it names is when the next one would pass."""

from __future__ import annotations

import pytest

from api.ingest.rate_limit import RateLimiter, retry_after_header


def test_a_burst_then_the_sustained_rate() -> None:
    limiter = RateLimiter(rate=10.0, burst=5.0)
    assert [limiter.take("a", 0.0) for _ in range(5)] == [None] * 5
    wait = limiter.take("a", 0.0)
    assert wait == pytest.approx(0.1)
    assert limiter.take("a", 0.1) is None  # one refilled after 0.1 s
    assert limiter.take("b", 0.1) is None  # budgets are per key
    assert limiter.refused == 1
    assert [limiter.take("a", 10.0) for _ in range(6)].count(None) == 5  # refills to burst


def test_keys_are_bounded_and_waits_round_up() -> None:
    limiter = RateLimiter(rate=1.0, burst=1.0, max_keys=2)
    for key in ("a", "b", "c"):
        limiter.take(key, 0.0)
    assert limiter.take("a", 0.0) is None  # forgotten (oldest), so a fresh budget
    assert retry_after_header(0.01) == "1" and retry_after_header(1.2) == "2"
    with pytest.raises(ValueError, match="rate"):
        RateLimiter(rate=0.0, burst=1.0)
