"""When a failed delivery is tried again, and when it is given up (dead-lettered). Pure."""

from __future__ import annotations

MAX_ATTEMPTS = 8
BASE_S = 2.0
CAP_S = 600.0


def retry_delay_s(attempts: int, *, base_s: float = BASE_S, cap_s: float = CAP_S) -> float:
    """Seconds to wait after the ``attempts``-th failed try: base · 2^(attempts−1), capped
    (2, 4, 8 … 600 s by default)."""
    return min(cap_s, base_s * 2.0 ** max(attempts - 1, 0))


def gives_up(attempts: int, *, max_attempts: int = MAX_ATTEMPTS) -> bool:
    """After this many failed tries the delivery is dead-lettered."""
    return attempts >= max_attempts
