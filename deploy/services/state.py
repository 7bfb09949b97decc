"""The embedded stack's state file (``<data-dir>/services.json``): what runs where.

Written by ``trialwire services start`` so later commands (``db migrate``, ``services
stop``) in other processes can find the servers. Mode 0600: it holds the database DSN.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

STATE_FILE = "services.json"


class ServiceRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One running server: its process identity and how to reach it."""

    pid: int
    create_time: float
    port: int
    endpoint: str
    log: str


class StackState(msgspec.Struct, frozen=True, kw_only=True):
    """Everything ``services start`` started; absent entries are configured externally."""

    version: int = 1
    postgres: ServiceRecord | None = None
    broker: ServiceRecord | None = None
    broker_storage: str | None = None
    object_store: ServiceRecord | None = None


def state_path(data_dir: Path) -> Path:
    return data_dir / STATE_FILE


def read_state(data_dir: Path) -> StackState | None:
    """The recorded state, or None when nothing was started from this data dir."""
    path = state_path(data_dir)
    try:
        return msgspec.json.decode(path.read_bytes(), type=StackState)
    except FileNotFoundError:
        return None


def write_state(data_dir: Path, state: StackState) -> None:
    """Atomically replace the state file."""
    path = state_path(data_dir)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(msgspec.json.format(msgspec.json.encode(state)))
    tmp.replace(path)


def clear_state(data_dir: Path) -> None:
    state_path(data_dir).unlink(missing_ok=True)
