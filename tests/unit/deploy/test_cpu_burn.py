"""The ``overload`` fault's CPU burners: one busy process per core, gone by themselves
after their time, and at once when stopped."""

from __future__ import annotations

import time

import psutil
import pytest

from deploy.eval.cpu_burn import CpuBurn


def test_burners_are_busy_then_end_by_themselves() -> None:
    burn = CpuBurn(2.0, cores=2)
    burn.start()
    try:
        assert burn.running() == 2
        busy = [psutil.Process(p.pid) for p in burn.processes]
        for proc in busy:
            proc.cpu_percent(None)
        time.sleep(0.5)
        # Each spins: well above idle even on a busy machine.
        assert all(proc.cpu_percent(None) > 10.0 for proc in busy)
        deadline = time.monotonic() + 30.0
        while burn.running() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert burn.running() == 0
    finally:
        burn.stop()


def test_stopping_ends_every_burner_at_once() -> None:
    with CpuBurn(600.0, cores=2) as burn:
        pids = [p.pid for p in burn.processes]
        assert burn.running() == 2
    assert burn.processes == []
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status()
                   != psutil.STATUS_ZOMBIE for pid in pids)


def test_a_burn_needs_a_positive_time() -> None:
    with pytest.raises(ValueError, match="positive"):
        CpuBurn(0.0)
