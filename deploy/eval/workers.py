"""``trialwire stream worker`` processes for evaluations and tests: started with one
environment, logs in ``<root>/<name>.log``, stopped with SIGTERM (SIGKILL after a grace)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from deploy.processes import ProcessGroup


class StreamWorkers:
    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.group = ProcessGroup(root, env)

    @property
    def processes(self) -> list[subprocess.Popen[bytes]]:
        return list(self.group.processes.values())

    def start(self, name: str) -> subprocess.Popen[bytes]:
        return self.group.start_cli(name, ["stream", "worker", "--data-dir",
                                           str(self.root / name)])

    def stop_all(self, timeout_s: float = 30.0) -> None:
        self.group.stop_all(timeout_s)
