"""Start, stop and inspect the embedded local stack (PostgreSQL + Kafka-protocol broker).

A server is started only when no external one is configured: ``TRIALWIRE_DATABASE_URL``
replaces the embedded PostgreSQL and ``TRIALWIRE_KAFKA_BOOTSTRAP`` the embedded broker.
"""

from __future__ import annotations

import logging
import os
import signal
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from deploy.services import process
from deploy.services.broker import BrokerStorage, EmbeddedBroker
from deploy.services.data_dir import require_writable
from deploy.services.errors import NotConfiguredError
from deploy.services.object_store import EmbeddedObjectStore
from deploy.services.ports import tcp_accepts
from deploy.services.postgres import EmbeddedPostgres
from deploy.services.state import (
    ServiceRecord,
    StackState,
    clear_state,
    read_state,
    write_state,
)

logger = logging.getLogger(__name__)

DATABASE_URL_ENV = "TRIALWIRE_DATABASE_URL"
KAFKA_BOOTSTRAP_ENV = "TRIALWIRE_KAFKA_BOOTSTRAP"
DATA_DIR_ENV = "TRIALWIRE_DATA_DIR"


def default_data_dir() -> Path:
    """``$TRIALWIRE_DATA_DIR`` or the per-user data directory (e.g. ~/.local/share/trialwire)."""
    configured = os.environ.get(DATA_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    return Path(platformdirs.user_data_dir("trialwire", appauthor=False))


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where the database and the broker are, and whether the broker is the embedded Tansu."""

    database_url: str
    kafka_bootstrap: str
    embedded_broker: bool


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    """One line of ``trialwire services status``."""

    name: str
    source: str  # "embedded" | "external" | "absent"
    running: bool
    endpoint: str
    detail: str


def _record(handle: process.ProcessHandle | None, port: int, endpoint: str,
            log: Path) -> ServiceRecord:
    assert handle is not None
    return ServiceRecord(pid=handle.pid, create_time=handle.create_time, port=port,
                         endpoint=endpoint, log=str(log))


def _alive(record: ServiceRecord | None) -> bool:
    return record is not None and process.ProcessHandle(record.pid, record.create_time).is_alive()


def start_stack(
    data_dir: Path,
    *,
    broker_storage: BrokerStorage = "s3",
    postgres_port: int | None = None,
    broker_port: int | None = None,
    timescaledb: bool | None = None,
    postgres_install: Path | None = None,
) -> StackState:
    """Start whatever is not configured externally and record it; idempotent while running.

    ``timescaledb``/``postgres_install``: see :class:`EmbeddedPostgres` (by default
    TimescaleDB is preloaded when the PostgreSQL installation has it).
    On any failure the servers this call started are stopped again (no orphans).
    """
    require_writable(data_dir, what="data directory",
                     advice=f"pass --data-dir or set {DATA_DIR_ENV}")
    existing = read_state(data_dir)
    if existing is not None and any(
        _alive(r) for r in (existing.postgres, existing.broker, existing.object_store)
    ):
        logger.info("embedded services already running from %s", data_dir)
        return existing

    started: list[EmbeddedPostgres | EmbeddedBroker | EmbeddedObjectStore] = []
    pg_record = broker_record = store_record = None
    try:
        if not _external_database():
            pg = EmbeddedPostgres(data_dir / "postgres", port=postgres_port,
                                  timescaledb=timescaledb, install_dir=postgres_install)
            dsn = pg.start()
            started.append(pg)
            pg_record = _record(pg.handle, pg.port or 0, dsn, pg.log_path)
        if not os.environ.get(KAFKA_BOOTSTRAP_ENV):
            store = None
            if broker_storage == "s3":
                store = EmbeddedObjectStore(data_dir / "object-store")
                store.start()
                started.append(store)
                store_record = _record(store.handle, store.s3_port or 0, store.endpoint,
                                       store.log_path)
            broker = EmbeddedBroker(data_dir / "broker", port=broker_port,
                                    storage=broker_storage, object_store=store)
            bootstrap = broker.start()
            started.append(broker)
            broker_record = _record(broker.handle, broker.port or 0, bootstrap, broker.log_path)
    except BaseException:
        for server in reversed(started):
            server.stop()
        raise
    state = StackState(postgres=pg_record, broker=broker_record,
                       broker_storage=broker_storage if broker_record else None,
                       object_store=store_record)
    write_state(data_dir, state)
    return state


def stop_stack(data_dir: Path) -> list[str]:
    """Stop every recorded embedded server; names stopped. The broker goes before the
    object store it writes to; PostgreSQL, which neither needs, stops meanwhile (its
    shutdown checkpoint is the slowest part on a busy machine)."""
    state = read_state(data_dir)
    if state is None:
        return []

    def stop(record: ServiceRecord | None, sig: int) -> bool:
        return record is not None and process.stop(
            process.ProcessHandle(record.pid, record.create_time), sig=sig, timeout=30)

    with ThreadPoolExecutor(max_workers=1) as database:
        # SIGINT = PostgreSQL's fast shutdown.
        postgres = database.submit(stop, state.postgres, signal.SIGINT)
        stopped = [name for name, record in (("broker", state.broker),
                                             ("object_store", state.object_store))
                   if stop(record, signal.SIGTERM)]
        if postgres.result():
            stopped.append("postgres")
    clear_state(data_dir)
    return stopped


def stack_status(data_dir: Path) -> list[ServiceStatus]:
    """Status of the database, broker and object store, embedded or external."""
    state = read_state(data_dir) or StackState()
    rows: list[ServiceStatus] = []
    if _external_database():
        rows.append(ServiceStatus("postgres", "external", True,
                                  _redact(resolve_database_url(data_dir)),
                                  f"from {DATABASE_URL_ENV}(_FILE)"))
    else:
        rows.append(_embedded_row("postgres", state.postgres, redact=True))
    external_kafka = os.environ.get(KAFKA_BOOTSTRAP_ENV)
    if external_kafka:
        rows.append(ServiceStatus("broker", "external", True, external_kafka,
                                  f"from {KAFKA_BOOTSTRAP_ENV}"))
    else:
        row = _embedded_row("broker", state.broker)
        if state.broker_storage:
            row = ServiceStatus(row.name, row.source, row.running, row.endpoint,
                                f"{row.detail}, storage={state.broker_storage}")
        rows.append(row)
        if state.object_store is not None:
            rows.append(_embedded_row("object_store", state.object_store))
    return rows


def _embedded_row(name: str, record: ServiceRecord | None, *,
                  redact: bool = False) -> ServiceStatus:
    if record is None:
        return ServiceStatus(name, "absent", False, "-", "not started")
    alive = _alive(record)
    listening = alive and tcp_accepts(record.port)
    endpoint = _redact(record.endpoint) if redact else record.endpoint
    if listening:
        detail = f"pid {record.pid}"
    elif alive:
        detail = f"pid {record.pid} runs but port {record.port} does not answer (see {record.log})"
    else:
        detail = f"pid {record.pid} is gone (see {record.log})"
    running = listening
    return ServiceStatus(name, "embedded", running, endpoint, detail)


def _redact(url: str) -> str:
    """Hide the password in a libpq URL for display."""
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


def _external_database() -> bool:
    return bool(os.environ.get(DATABASE_URL_ENV) or os.environ.get(f"{DATABASE_URL_ENV}_FILE"))


def resolve_database_url(data_dir: Path | None = None) -> str:
    """``$TRIALWIRE_DATABASE_URL`` (or the file ``$TRIALWIRE_DATABASE_URL_FILE`` names: a
    mounted secret), else the embedded PostgreSQL running from ``data_dir``."""
    external = os.environ.get(DATABASE_URL_ENV)
    if external:
        return external
    url_file = os.environ.get(f"{DATABASE_URL_ENV}_FILE")
    if url_file:
        try:
            url = Path(url_file).read_text().strip()
        except OSError as exc:
            raise NotConfiguredError(
                f"cannot read {DATABASE_URL_ENV}_FILE {url_file}: {exc.strerror}") from exc
        if not url:
            raise NotConfiguredError(f"{DATABASE_URL_ENV}_FILE {url_file} is empty")
        return url
    data_dir = data_dir or default_data_dir()
    state = read_state(data_dir)
    if state is None or state.postgres is None or not _alive(state.postgres):
        raise NotConfiguredError(
            f"no database: {DATABASE_URL_ENV} is unset and no embedded PostgreSQL runs "
            f"from {data_dir}",
            advice="run `trialwire services start` or set TRIALWIRE_DATABASE_URL",
        )
    return state.postgres.endpoint


def resolve_kafka(data_dir: Path | None = None) -> tuple[str, bool]:
    """(bootstrap, is_embedded): ``$TRIALWIRE_KAFKA_BOOTSTRAP``, else the embedded broker."""
    external = os.environ.get(KAFKA_BOOTSTRAP_ENV)
    if external:
        return external, False
    data_dir = data_dir or default_data_dir()
    state = read_state(data_dir)
    if state is None or state.broker is None or not _alive(state.broker):
        raise NotConfiguredError(
            f"no Kafka broker: {KAFKA_BOOTSTRAP_ENV} is unset and no embedded broker runs "
            f"from {data_dir}",
            advice="run `trialwire services start` or set TRIALWIRE_KAFKA_BOOTSTRAP",
        )
    return state.broker.endpoint, True


def resolve_endpoints(data_dir: Path | None = None) -> Endpoints:
    """Database URL and Kafka bootstrap: environment first, then running embedded services."""
    bootstrap, embedded = resolve_kafka(data_dir)
    return Endpoints(database_url=resolve_database_url(data_dir), kafka_bootstrap=bootstrap,
                     embedded_broker=embedded)
