"""Busy-loop processes that keep every core of this machine busy for a bounded time (the
``overload`` fault of ``trialwire eval chaos``): the system under test must cope with a
machine that has no spare CPU.

Each burner ends by itself after its time, so none can outlive a crashed evaluation for
long; :meth:`CpuBurn.stop` ends them at once."""

from __future__ import annotations

import os
import subprocess
import sys
from types import TracebackType

import psutil

# A tight loop on the monotonic clock: one core each, exits at the deadline.
_BURN = ("import os, time\n"
         "os.nice({nice})\n"
         "end = time.monotonic() + {seconds}\n"
         "while time.monotonic() < end:\n"
         "    pass\n")


class CpuBurn:
    """``cores`` burner processes (default: one per core) for at most ``seconds``, at
    ``nice`` (0: the caller's priority; higher: lower priority)."""

    def __init__(self, seconds: float, cores: int | None = None, nice: int = 0) -> None:
        if seconds <= 0:
            raise ValueError(f"a burn lasts a positive time, not {seconds} s")
        self.seconds = seconds
        self.cores = cores if cores is not None else (os.cpu_count() or 1)
        self.nice = nice
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        code = _BURN.format(seconds=float(self.seconds), nice=int(self.nice))
        for _ in range(self.cores):
            self.processes.append(subprocess.Popen(
                [sys.executable, "-c", code], stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True))

    def running(self) -> int:
        return sum(1 for p in self.processes if p.poll() is None)

    def stop(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.kill()
        for proc in self.processes:
            proc.wait()
        self.processes.clear()

    def __enter__(self) -> CpuBurn:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def lower_priority(pids: list[int], nice: int) -> int:
    """Give these processes and all their descendants ``nice`` (a lower priority, which
    any user may do to their own processes); returns how many were changed."""
    changed = 0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            family = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        for proc in family:
            try:
                if proc.nice() < nice:
                    proc.nice(nice)
                    changed += 1
            except psutil.Error:
                continue
    return changed
