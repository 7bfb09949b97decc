"""Embedded services: start/stop without orphans, persistence, and clear start-up errors."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import psycopg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from deploy.services import (
    BinaryMissingError,
    DataDirNotWritableError,
    EmbeddedBroker,
    EmbeddedObjectStore,
    EmbeddedPostgres,
    PortInUseError,
    stack_status,
    start_stack,
    stop_stack,
)
from deploy.services.state import read_state
from stream.kafka.settings import KafkaSettings

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def processes_using(path: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if str(path) in cmdline:
            found.append(proc)
    return found


def test_stack_starts_reports_and_stops_without_orphans(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRIALWIRE_DATABASE_URL", raising=False)
    monkeypatch.delenv("TRIALWIRE_KAFKA_BOOTSTRAP", raising=False)
    state = start_stack(tmp_path, broker_storage="memory")
    try:
        assert state.postgres is not None and state.broker is not None
        assert state.object_store is None
        assert {r.name: r.running for r in stack_status(tmp_path)} == {"postgres": True,
                                                                       "broker": True}
        with psycopg.connect(state.postgres.endpoint) as conn:
            assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
        # Starting again while running is a no-op that returns the same servers.
        assert start_stack(tmp_path, broker_storage="memory") == state
    finally:
        stopped = stop_stack(tmp_path)
    assert stopped == ["broker", "postgres"]
    assert processes_using(tmp_path) == []
    assert read_state(tmp_path) is None


def test_external_endpoints_replace_embedded_servers(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIALWIRE_DATABASE_URL", "postgresql://u:secret@db.example:5432/x")
    monkeypatch.setenv("TRIALWIRE_KAFKA_BOOTSTRAP", "kafka.example:9093")
    state = start_stack(tmp_path)
    assert state.postgres is None and state.broker is None
    rows = {r.name: r for r in stack_status(tmp_path)}
    assert rows["postgres"].source == "external"
    assert "secret" not in rows["postgres"].endpoint
    assert rows["broker"].endpoint == "kafka.example:9093"
    assert processes_using(tmp_path) == []


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(PortInUseError, match=f"port 127.0.0.1:{port} is already in use"):
            EmbeddedBroker(tmp_path, port=port).start()
        with pytest.raises(PortInUseError):
            EmbeddedPostgres(tmp_path / "pg", port=port).start()
    assert processes_using(tmp_path) == []


def test_unwritable_data_dir_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(DataDirNotWritableError, match="is not writable"):
        start_stack(blocker / "data")
    with pytest.raises(DataDirNotWritableError):
        EmbeddedPostgres(blocker / "pg").start()


def test_missing_broker_binary_is_a_clear_error(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALF_TANSU_BIN", str(tmp_path / "no-such-tansu"))
    with pytest.raises(BinaryMissingError, match="Tansu broker binary not found"):
        EmbeddedBroker(tmp_path).start()


def test_postgres_restarts_on_the_same_port_with_its_data(tmp_path: Path) -> None:
    pg = EmbeddedPostgres(tmp_path, fast=True)
    dsn = pg.start()
    try:
        with psycopg.connect(dsn) as conn:
            conn.execute("CREATE TABLE kept (x int)")
            conn.execute("INSERT INTO kept VALUES (42)")
        port = pg.port
        pg.kill()  # a crash, not a clean stop
        assert not pg.is_healthy()
        assert pg.start() == dsn and pg.port == port
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SELECT x FROM kept").fetchone() == (42,)
    finally:
        pg.stop()
    assert processes_using(tmp_path) == []


async def test_persistent_broker_keeps_topics_and_offsets_across_restart(tmp_path: Path) -> None:
    store = EmbeddedObjectStore(tmp_path / "s3")
    store.start()
    broker = EmbeddedBroker(tmp_path / "broker", storage="s3", object_store=store)
    try:
        broker.start()
        settings = KafkaSettings(bootstrap=broker.bootstrap, embedded_broker=True)
        producer = AIOKafkaProducer(**settings.producer_config())
        await producer.start()
        for i in range(20):
            await producer.send_and_wait("kept", f"m{i}".encode(), partition=0)
        await producer.stop()

        broker.restart()

        consumer = AIOKafkaConsumer(**settings.consumer_config(group_id=None))
        await consumer.start()
        try:
            tp = TopicPartition("kept", 0)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            got: list[bytes] = []
            while len(got) < 20:
                batch = await consumer.getmany(tp, timeout_ms=3000)
                assert batch, "no records after broker restart"
                got += [r.value for r in batch[tp]]
            assert got == [f"m{i}".encode() for i in range(20)]
            assert (await consumer.end_offsets([tp]))[tp] == 20
        finally:
            await consumer.stop()
    finally:
        broker.stop()
        store.stop()
    assert processes_using(tmp_path) == []


def test_cli_start_migrate_stop(tmp_path: Path) -> None:
    """The acceptance path: services start, db migrate, db status, services stop."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("TRIALWIRE_DATABASE_URL", "TRIALWIRE_KAFKA_BOOTSTRAP")}
    env["TRIALWIRE_DATA_DIR"] = str(tmp_path)
    env["COLUMNS"] = "200"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "deploy.cli", *args], env=env,
                              capture_output=True, text=True, timeout=120, check=False)

    try:
        started = cli("services", "start")
        assert started.returncode == 0, started.stderr
        assert "postgres" in started.stderr and "object_store" in started.stderr
        migrated = cli("db", "migrate")
        assert migrated.returncode == 0, migrated.stderr
        assert "applying 0001_registry" in migrated.stderr
        assert "up to date" in cli("db", "migrate").stderr
        status = cli("db", "status")
        assert status.returncode == 0, status.stderr
        assert "partitioned" in status.stderr
        assert cli("services", "status").returncode == 0
    finally:
        stopped = cli("services", "stop")
    assert stopped.returncode == 0
    assert "broker, object_store, postgres" in stopped.stderr
    assert processes_using(tmp_path) == []
    assert cli("services", "status").returncode == 0  # nothing recorded, nothing down
    no_db = cli("db", "status")
    assert no_db.returncode == 1
    assert "no database" in no_db.stderr


def test_foreground_services_stop_cleanly_on_sigint(tmp_path: Path) -> None:
    import signal
    import time

    env = {k: v for k, v in os.environ.items()
           if k not in ("TRIALWIRE_DATABASE_URL", "TRIALWIRE_KAFKA_BOOTSTRAP")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "deploy.cli", "services", "start", "--foreground",
         "--broker-storage", "memory", "--data-dir", str(tmp_path)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            rows = stack_status(tmp_path)
            if rows and all(r.running for r in rows if r.source == "embedded") and \
                    read_state(tmp_path) is not None:
                break
            time.sleep(0.2)
        assert {r.name for r in stack_status(tmp_path) if r.running} == {"postgres", "broker"}
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "stopped: broker, postgres" in err
    assert processes_using(tmp_path) == []
