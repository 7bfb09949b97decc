"""The ``up_sighup`` fault: ``trialwire up`` loses its terminal (SIGHUP, and nobody reads
its output any more); every process it started must be gone soon after, none orphaned.

Used by ``trialwire eval chaos --faults up_sighup`` and by ``tests/e2e/test_up.py``."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from deploy.processes import KILLED_MARK
from deploy.services.ports import free_port

BANNER_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 60.0


@dataclass
class Hangup:
    children: int  # processes `up` had started when the terminal went away
    exit_code: int | None  # None: still running STOP_TIMEOUT_S after the hang-up
    stopped_s: float  # from the hang-up until `up` exited
    orphans: list[str] = field(default_factory=list)  # "pid: command" still alive after
    killed: list[str] = field(default_factory=list)  # children SIGKILLed: no stop on SIGTERM


def leftovers(pids: set[int], marker: str) -> list[str]:
    """Processes still alive among ``pids`` or whose command line holds ``marker``."""
    alive = []
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            cmdline = " ".join(proc.info["cmdline"] or [])
        except psutil.Error:
            continue
        if proc.info["pid"] in pids or marker in cmdline:
            alive.append(f"{proc.info['pid']}: {cmdline[:160]}")
    return alive


def _start(data_dir: Path, homes: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIALWIRE_")}
    return subprocess.Popen(
        [sys.executable, "-m", "deploy.cli", "up", "--homes", str(homes), "--data-dir",
         str(data_dir), "--api-port", str(free_port())],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


async def hang_up(data_dir: Path, *, homes: int = 1) -> Hangup:
    """Start ``trialwire up`` in ``data_dir``, wait for its banner, then close its output
    and send SIGHUP, as a closing terminal does; report how it ended."""
    up = _start(data_dir, homes)
    stdout, stderr = up.stdout, up.stderr
    if stdout is None or stderr is None:
        raise RuntimeError("trialwire up started without its output pipes")
    started: set[int] = set()
    try:
        line = await asyncio.wait_for(asyncio.to_thread(stdout.readline), BANNER_TIMEOUT_S)
        if not line or "web" not in json.loads(line):
            raise RuntimeError(f"trialwire up printed no banner (exit {up.poll()})")
        started = {p.pid for p in psutil.Process(up.pid).children(recursive=True)}
        stdout.close()
        stderr.close()
        hung_up = time.monotonic()
        up.send_signal(signal.SIGHUP)
        try:
            code: int | None = await asyncio.to_thread(up.wait, STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            code = None
        stopped_s = time.monotonic() - hung_up
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
    await asyncio.sleep(1.0)
    return Hangup(len(started), code, round(stopped_s, 1), leftovers(started, str(data_dir)),
                  killed_children(data_dir / "up" / "logs"))


def killed_children(logs: Path) -> list[str]:
    """The children whose logs say they were SIGKILLed for not stopping on SIGTERM."""
    return sorted(log.stem for log in logs.glob("*.log")
                  if KILLED_MARK in log.read_text(errors="replace"))
