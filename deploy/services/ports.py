"""Loopback port helpers: pick free ports, detect ports in use, wait for listeners."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterable

from deploy.services.errors import PortInUseError

LOOPBACK = "127.0.0.1"


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """True when nothing is bound to ``host:port`` (we can bind it ourselves)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # SO_REUSEADDR: a port whose last listener just exited (TIME_WAIT) counts as free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = LOOPBACK, *, with_offsets: Iterable[int] = ()) -> int:
    """Return a port the kernel says is free; with ``with_offsets`` also port+offset must be free.

    SeaweedFS binds a gRPC port at HTTP port + 10000, hence the offsets. There is an
    unavoidable race between choosing and binding; callers retry on PortInUseError.
    """
    offsets = tuple(with_offsets)
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if all(port + off < 65536 and port_is_free(port + off, host) for off in offsets):
            return port
    raise PortInUseError(f"could not find a free port on {host} with offsets {offsets}")


def require_free(port: int, what: str, host: str = LOOPBACK) -> None:
    """Raise PortInUseError with a clear message when ``port`` is taken."""
    if not port_is_free(port, host):
        raise PortInUseError(
            f"{what}: port {host}:{port} is already in use",
            advice="stop the other process or omit the port to pick a free one",
        )


def tcp_accepts(port: int, host: str = LOOPBACK, timeout: float = 0.5) -> bool:
    """True when a TCP connection to ``host:port`` succeeds."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_tcp(port: int, *, timeout: float, host: str = LOOPBACK, alive: object = None) -> bool:
    """Poll until ``host:port`` accepts connections or ``timeout`` seconds pass.

    ``alive`` is an optional zero-argument callable; when it returns False the wait
    stops early (the server process died).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if tcp_accepts(port, host):
            return True
        if callable(alive) and not alive():
            return False
        time.sleep(0.05)
    return False
