"""The ``overload`` fault's CPU burners (one busy process per core, gone by themselves
after their time, and at once when stopped) and the lower priority it gives the platform."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil
import pytest

from deploy.eval.cpu_burn import CpuBurn, lower_priority


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


def test_lower_priority_reaches_the_whole_family() -> None:
    """The platform's processes (a server and the children it forks) go below the
    homes' priority together."""
    parent = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys, time; "
         "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)']); "
         "time.sleep(30)"])
    try:
        deadline = time.monotonic() + 10.0
        while not psutil.Process(parent.pid).children() and time.monotonic() < deadline:
            time.sleep(0.05)
        family = [psutil.Process(parent.pid), *psutil.Process(parent.pid).children()]
        assert len(family) == 2
        assert lower_priority([parent.pid], 7) == 2
        assert [p.nice() for p in family] == [7, 7]
        assert lower_priority([parent.pid], 7) == 0  # already there: nothing to change
    finally:
        for proc in psutil.Process(parent.pid).children(recursive=True):
            proc.kill()
        parent.kill()
        parent.wait()
