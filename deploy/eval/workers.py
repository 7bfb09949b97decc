"""``trialwire stream worker`` processes for evaluations and tests: started with one
environment, logs in ``<root>/<name>.log``, stopped with SIGTERM (SIGKILL after a grace)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path


class StreamWorkers:
    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.env = env
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, name: str) -> subprocess.Popen[bytes]:
        log = (self.root / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "deploy.cli", "stream", "worker", "--data-dir",
             str(self.root / name)], env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(proc)
        return proc

    def stop_all(self, timeout_s: float = 30.0) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.processes:
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
