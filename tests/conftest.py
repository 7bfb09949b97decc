"""Shared test configuration: fixture plugins are registered in pyproject (addopts -p)."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _one_e2e_test_at_a_time(request: pytest.FixtureRequest,
                            tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """End-to-end tests (marker ``e2e``) each run a whole platform of processes; two at
    once on a 2-core machine starve each other's simulated clocks and the tests beside
    them, so the xdist workers take turns (a lock file in pytest's shared temp root).
    Tests marked ``takes_turns`` join them: simulations whose clocks run 20-30x fast
    (they fail their sample floors when a whole platform runs beside them) and the
    CPU-heavy static checks."""
    if (request.node.get_closest_marker("e2e") is None
            and request.node.get_closest_marker("takes_turns") is None):
        yield
        return
    lock_path = tmp_path_factory.getbasetemp().parent / "e2e.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
