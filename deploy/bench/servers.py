"""The servers a benchmark runs against: embedded PostgreSQL (durable settings) and an
embedded broker, in memory or persistent (an object store beside it, as ``trialwire up``
runs it), in a temporary directory removed afterwards."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from deploy.bench.report import progress
from deploy.services.broker import BrokerStorage, EmbeddedBroker
from deploy.services.object_store import EmbeddedObjectStore
from deploy.services.postgres import EmbeddedPostgres


@dataclass(frozen=True)
class BenchServers:
    tmp: Path  # scratch space for the benchmark's own files
    admin_dsn: str
    bootstrap: str


@contextlib.contextmanager
def bench_servers(storage: BrokerStorage) -> Iterator[BenchServers]:
    with tempfile.TemporaryDirectory(prefix="trialwire-bench-") as name:
        tmp = Path(name)
        progress(f"starting embedded PostgreSQL (durable settings) and broker ({storage})")
        server = EmbeddedPostgres(tmp / "pg")
        server.start()
        try:
            with _broker(tmp, storage) as broker:
                yield BenchServers(tmp, server.dsn("postgres"), broker.bootstrap)
        finally:
            server.stop()


@contextlib.contextmanager
def _broker(tmp: Path, storage: BrokerStorage) -> Iterator[EmbeddedBroker]:
    store = EmbeddedObjectStore(tmp / "s3") if storage == "s3" else None
    if store is not None:
        store.start()
    broker = EmbeddedBroker(tmp / "broker", storage=storage, object_store=store)
    try:
        broker.start()
        yield broker
    finally:
        broker.stop()
        if store is not None:
            store.stop()
