"""Start detached server processes and stop them by pid without leaving orphans."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ProcessHandle:
    """A server process identified by pid *and* start time, so a recycled pid is never killed."""

    pid: int
    create_time: float

    @classmethod
    def of(cls, pid: int) -> ProcessHandle:
        return cls(pid=pid, create_time=psutil.Process(pid).create_time())

    def process(self) -> psutil.Process | None:
        """The live process, or None when it exited (or the pid now belongs to another)."""
        try:
            proc = psutil.Process(self.pid)
            if abs(proc.create_time() - self.create_time) > 0.01:
                return None
            if proc.status() == psutil.STATUS_ZOMBIE:
                return None
            return proc
        except psutil.Error:
            return None

    def is_alive(self) -> bool:
        return self.process() is not None


def spawn(
    argv: Sequence[str],
    *,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
) -> tuple[subprocess.Popen[bytes], ProcessHandle]:
    """Start ``argv`` in its own session (survives the CLI exiting) with output to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    with log_path.open("ab") as log:
        popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=full_env,
            cwd=cwd,
            start_new_session=True,
            # Drop group root too: a directory mode like 0701 gives group root no access.
            user=user,
            group=user,
            extra_groups=[] if user is not None else None,
        )
    return popen, ProcessHandle.of(popen.pid)


def stop(handle: ProcessHandle, *, timeout: float = 10.0, sig: int = signal.SIGTERM) -> bool:
    """Signal the process (and its children), wait, then SIGKILL what is left. True if it ran."""
    proc = handle.process()
    if proc is None:
        return False
    try:
        family = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        family = [proc]
    for member in family:
        with contextlib.suppress(psutil.Error):
            member.send_signal(sig)
    _gone, alive = psutil.wait_procs(family, timeout=timeout)
    for member in alive:
        logger.warning("process %s did not exit after %s s; killing it", member.pid, timeout)
        with contextlib.suppress(psutil.Error):
            member.kill()
    psutil.wait_procs(alive, timeout=5)
    return True


def tail(path: Path, lines: int = 20) -> str:
    """Last lines of a log file, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def wait_until(predicate: object, *, timeout: float, interval: float = 0.1) -> bool:
    """Poll a zero-argument callable until it is truthy or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(predicate) and predicate():
            return True
        time.sleep(interval)
    return False


def wait_healthy(popen: subprocess.Popen[bytes] | None, healthy: object, *, timeout: float,
                 log_path: Path, what: str, interval: float = 0.1) -> None:
    """Poll ``healthy()`` until True; a dead process or ``timeout`` raises ServiceStartError
    with the tail of its log."""
    from deploy.services.errors import ServiceStartError

    def ready() -> bool:
        if popen is not None and popen.poll() is not None:
            raise ServiceStartError(f"{what} exited with status {popen.returncode}:\n"
                                    f"{tail(log_path)}")
        return bool(healthy())  # type: ignore[operator]

    if not wait_until(ready, timeout=timeout, interval=interval):
        raise ServiceStartError(f"{what} did not become ready in {timeout} s:\n{tail(log_path)}")
