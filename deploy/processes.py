"""Child processes of the CLI (stream workers, the API, Bluetooth hub, homes and gateways):
started with one environment and a log file each, stopped with SIGTERM, then SIGKILL
after a grace period, so none is left behind."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

STOP_TIMEOUT_S = 10.0  # every process stops within 10 s of SIGTERM; then it is killed
KILLED_MARK = "[trialwire] SIGKILLed: did not stop within"


def home_env(env: dict[str, str]) -> dict[str, str]:
    """A gateway's environment: ``env`` without the platform's settings (no Kafka, no
    database, no stream worker), as a home gateway has none of them."""
    return {k: v for k, v in env.items()
            if not k.startswith(("TRIALWIRE_KAFKA_", "TRIALWIRE_DATABASE_",
                                 "TRIALWIRE_STREAM_"))}


class ProcessGroup:
    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.root = root
        self.env = env
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        # To start a child again: its arguments, stdout_to_log and environment.
        self.args: dict[str, tuple[list[str], bool, dict[str, str] | None]] = {}
        self.restarts: dict[str, int] = {}
        self.killed: list[str] = []  # children SIGKILLed for not stopping on SIGTERM

    def start_cli(self, name: str, args: Sequence[str], *, stdout_to_log: bool = True,
                  env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """``trialwire <args>`` as a child named ``name``, logging to ``<root>/<name>.log``
        (stdout as a pipe instead when ``stdout_to_log`` is False), in the group's
        environment or ``env``."""
        self.root.mkdir(parents=True, exist_ok=True)
        log = (self.root / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "deploy.cli", *args], env=self.env if env is None else env,
            stdout=log if stdout_to_log else subprocess.PIPE, stderr=log,
            stdin=subprocess.DEVNULL,
            # Own session: a Ctrl-C in the terminal reaches only the parent, which then
            # stops the children in order.
            start_new_session=True)
        log.close()  # the child holds its own descriptor
        self.processes[name] = proc
        self.args[name] = (list(args), stdout_to_log, env)
        return proc

    def respawn(self, names: set[str]) -> dict[str, int]:
        """Start again each of ``names`` that has exited, as a supervisor (systemd,
        Kubernetes) would; returns name → the exit code it died with."""
        died = {name: code for name, code in self.failed().items() if name in names}
        for name in died:
            args, stdout_to_log, env = self.args[name]
            self.restarts[name] = self.restarts.get(name, 0) + 1
            self.start_cli(name, args, stdout_to_log=stdout_to_log, env=env)
        return died

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to a child (fault injection); it stays in the group until it is
        respawned or stopped."""
        proc = self.processes[name]
        if proc.poll() is None:
            proc.send_signal(sig)

    def failed(self) -> dict[str, int]:
        """Children that have exited, with their exit codes."""
        return {name: code for name, proc in self.processes.items()
                if (code := proc.poll()) is not None}

    def stop(self, *names: str, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Stop these children together (SIGTERM to all, then wait for each)."""
        self._stop([(name, self.processes.pop(name)) for name in names
                    if name in self.processes], timeout_s)

    def stop_all(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Stop every child, newest first (homes before the platform they talk to)."""
        procs = list(reversed(self.processes.items()))
        self.processes.clear()
        self._stop(procs, timeout_s)

    def _stop(self, procs: list[tuple[str, subprocess.Popen[bytes]]], timeout_s: float) -> None:
        """SIGTERM to all, then wait; one still running after ``timeout_s`` is SIGKILLed,
        which its log says and ``killed`` records (every process must stop within 10 s
        of SIGTERM: a kill is a defect to find, not a way to stop)."""
        for _name, proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for name, proc in procs:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                self.killed.append(name)
                with (self.root / f"{name}.log").open("a") as log:
                    log.write(f"{KILLED_MARK} {timeout_s:g} s after SIGTERM\n")
            if proc.stdout is not None:
                proc.stdout.close()
