"""What the rebalance watchdog counts as a worker still settling."""

from __future__ import annotations

from types import SimpleNamespace

from stream.rebalance_watchdog import settling


class _Flag:
    def __init__(self, value: bool) -> None:
        self.value = value

    def is_set(self) -> bool:
        return self.value


def _app(*, rebalancing: bool, recovered: bool | None) -> SimpleNamespace:
    recovery = None if recovered is None else SimpleNamespace(completed=_Flag(recovered))
    return SimpleNamespace(rebalancing=rebalancing, tables=SimpleNamespace(recovery=recovery))


def test_starting_and_rebalancing_workers_are_settling() -> None:
    assert settling(_app(rebalancing=False, recovered=None))  # tables not set up yet
    assert settling(_app(rebalancing=False, recovered=False))  # first recovery running
    assert settling(_app(rebalancing=True, recovered=True))  # a later rebalance


def test_a_ready_worker_is_not() -> None:
    assert not settling(_app(rebalancing=False, recovered=True))
