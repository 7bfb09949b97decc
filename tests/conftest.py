"""Shared test configuration: fixture plugins are registered in pyproject (addopts -p)."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest


def _locked(stack: ExitStack, path: Path, mode: int) -> None:
    lock = stack.enter_context(path.open("w"))
    fcntl.flock(lock, mode)
    stack.callback(fcntl.flock, lock, fcntl.LOCK_UN)


@pytest.fixture(autouse=True)
def _take_turns(request: pytest.FixtureRequest,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Heavy tests take turns across the xdist workers (lock files in pytest's shared
    temp root).

    - ``runs_alone``: the whole-system chaos run, which judges every reading against
      clocks running 30x fast; with other tests beside it on a 2-core machine it measures
      the machine's overload, not the faults it injects (overload has a fault of its own,
      issue 14). It waits for the running tests to end and holds the others back until
      it is done (a gate gives it precedence over tests arriving meanwhile).
    - ``e2e`` and ``takes_turns``: each runs a whole platform of processes or a fast
      simulated clock; two at once starve each other, so they run one at a time.
    """
    root = tmp_path_factory.getbasetemp().parent
    alone = request.node.get_closest_marker("runs_alone") is not None
    with ExitStack() as stack:
        if alone:
            _locked(stack, root / "gate.lock", fcntl.LOCK_EX)  # held: newcomers wait
            _locked(stack, root / "alone.lock", fcntl.LOCK_EX)
        else:
            with ExitStack() as gate:  # pass the gate only while no lone test waits
                _locked(gate, root / "gate.lock", fcntl.LOCK_EX)
                _locked(stack, root / "alone.lock", fcntl.LOCK_SH)
        if (request.node.get_closest_marker("e2e") is not None
                or request.node.get_closest_marker("takes_turns") is not None):
            _locked(stack, root / "e2e.lock", fcntl.LOCK_EX)
        yield
