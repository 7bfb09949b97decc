"""Alert delivery against a real PostgreSQL, a real webhook receiver (uvicorn on loopback)
and a real SMTP server (aiosmtpd, STARTTLS with a throwaway CA): each flag reaches each
matching channel once by its idempotency key, signed, through failures, a dispatcher
killed mid-try, and a receiver that never accepts (dead-lettered)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path

import psycopg
import pytest
import trustme
from aiosmtpd.controller import Controller
from fastapi import FastAPI, Request, Response

from deploy.bench.seed import STUDY
from storage import alerts
from storage import flags as flag_store
from stream.alerts import signing
from stream.alerts.service import serve
from stream.alerts.settings import AlertSettings, SmtpSettings
from stream.contract.flag import Flag
from tests.fixtures.http_server import serving

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 25, 8, tzinfo=UTC)
FAST = AlertSettings(poll_s=0.05, retry_base_s=0.05, retry_cap_s=0.2, lease_s=2.0,
                     timeout_s=5.0)


@dataclass
class Receiver:
    """A webhook endpoint that fails its first ``fail_first`` tries of each key, takes
    each key once (a repeat of a taken key is answered 200 and not taken again), and can
    hold requests for a while before answering."""

    secret: str = ""
    fail_first: int = 0
    always_fail: bool = False
    hold_s: float = 0.0
    tries: list[tuple[str, int, bytes]] = field(default_factory=list)  # key, attempt, body
    taken: dict[str, bytes] = field(default_factory=dict)
    bad_signatures: list[str] = field(default_factory=list)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/hook")
        async def hook(request: Request) -> Response:
            body = await request.body()
            key = request.headers[signing.IDEMPOTENCY_HEADER]
            try:
                signing.verify(self.secret, request.headers[signing.HEADER], body,
                               now=time.time())
            except signing.SignatureError as exc:
                self.bad_signatures.append(exc.reason)
                return Response(status_code=401)
            self.tries.append((key, int(request.headers["X-Trialwire-Attempt"]), body))
            if self.hold_s:
                await asyncio.sleep(self.hold_s)
            if self.always_fail or sum(1 for k, _, _ in self.tries if k == key) <= self.fail_first:
                return Response(status_code=503)
            self.taken.setdefault(key, body)
            return Response(status_code=200)

        return app


async def store_flags(dsn: str, severities: list[str]) -> list[int]:
    ids = []
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        for i, severity in enumerate(severities):
            flag_id, _ = await flag_store.store(conn, Flag(
                study=STUDY, subject=f"S-{1 + i % 2}", device_id=None, metric=None,
                rule_id="hr_tachycardia", rule_version=1, severity=severity,
                window_start=T0 + timedelta(hours=i), window_end=T0 + timedelta(hours=i, minutes=5),
                raised_at=T0, raised_on="live"))
            ids.append(flag_id)
        await conn.commit()
    return ids


async def add_channel(dsn: str, *, kind: str, target: str, **kwargs: object) -> alerts.Channel:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        channel = await alerts.create_channel(conn, study=STUDY, name=f"{kind}-{target[-12:]}",
                                              kind=kind, target=target, **kwargs)  # type: ignore[arg-type]
        await conn.commit()
    return channel


async def statuses(dsn: str) -> dict[int, str]:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        rows = await (await conn.execute("SELECT flag_id, status FROM alert_deliveries")).fetchall()
    return {int(flag_id): str(status) for flag_id, status in rows}


async def until(check, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


async def dispatch_until(study: str, expected: dict[int, str], what: str, *,
                         settings: AlertSettings = FAST,
                         smtp: SmtpSettings | None = None) -> dict[str, int]:
    """Run the dispatcher until the deliveries' statuses are ``expected`` (flag → status),
    stop it, and return its counts."""
    stop = asyncio.Event()
    task = asyncio.create_task(serve(study, settings, smtp or SmtpSettings(), stop))

    async def reached() -> bool:
        return await statuses(study) == expected
    try:
        await until(reached, 30, what)
    finally:
        stop.set()
        counts = await asyncio.wait_for(task, 10)
    return counts


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    hook = Receiver()
    with serving(hook.app()) as port:
        yield hook, f"http://127.0.0.1:{port}/hook"


async def test_each_flag_reaches_its_webhook_once_through_three_failures(
        study: str, receiver: tuple[Receiver, str]) -> None:
    hook, url = receiver
    hook.fail_first = 3
    channel = await add_channel(study, kind="webhook", target=url, min_severity="medium")
    hook.secret = channel.secret or ""
    high, critical, _info = await store_flags(study, ["high", "critical", "info"])
    counts = await dispatch_until(study, {high: "delivered", critical: "delivered"},
                                  "both deliveries")

    assert hook.bad_signatures == []
    keys = {f"trialwire-flag-{high}-channel-{channel.id}",
            f"trialwire-flag-{critical}-channel-{channel.id}"}
    assert set(hook.taken) == keys  # the info flag is below the channel's minimum
    for key in keys:  # four tries each, numbered, the same body every time
        tries = [(attempt, body) for k, attempt, body in hook.tries if k == key]
        assert [attempt for attempt, _ in tries] == [1, 2, 3, 4]
        assert {body for _, body in tries} == {hook.taken[key]}
    assert counts == {"planned": 2, "delivered": 2, "failed": 6, "dead": 0}
    async with await psycopg.AsyncConnection.connect(study) as conn:
        [log] = await alerts.deliveries_of_flag(conn, study=STUDY, flag_id=high)
    assert (log.status, log.attempts, log.last_status) == ("delivered", 4, 200)
    assert [t["outcome"] for t in log.tries] == ["failed"] * 3 + ["delivered"]
    assert [t["status"] for t in log.tries] == [503, 503, 503, 200]
    assert log.latency_ms is not None and log.latency_ms > 0


async def test_a_receiver_that_never_accepts_is_dead_lettered_after_the_last_try(
        study: str, receiver: tuple[Receiver, str]) -> None:
    hook, url = receiver
    hook.always_fail = True
    hook.secret = (await add_channel(study, kind="webhook", target=url)).secret or ""
    [flag] = await store_flags(study, ["high"])
    await dispatch_until(study, {flag: "dead"}, "the dead letter",
                         settings=FAST.model_copy(update={"max_attempts": 3}))
    assert [attempt for _, attempt, _ in hook.tries] == [1, 2, 3]
    async with await psycopg.AsyncConnection.connect(study) as conn:
        [log] = await alerts.deliveries_of_flag(conn, study=STUDY, flag_id=flag)
    assert [t["outcome"] for t in log.tries] == ["failed", "failed", "dead"]
    assert log.last_error == "HTTP 503"


async def test_a_dispatcher_killed_mid_try_is_repeated_under_the_same_key(
        study: str, receiver: tuple[Receiver, str], tmp_path: Path) -> None:
    """``trialwire alerts run`` SIGKILLed while the receiver holds its request: the try is
    never recorded, so after the lease a fresh dispatcher makes it again, with the same
    idempotency key, and the receiver keeps one alert."""
    hook, url = receiver
    hook.hold_s = 3.0
    hook.secret = (await add_channel(study, kind="webhook", target=url)).secret or ""
    [flag] = await store_flags(study, ["high"])
    env = {**os.environ, "TRIALWIRE_DATABASE_URL": study, "TRIALWIRE_ALERTS_POLL_S": "0.05",
           "TRIALWIRE_ALERTS_LEASE_S": "2"}
    argv = [sys.executable, "-m", "deploy.cli", "alerts", "run", "--data-dir", str(tmp_path)]

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    first = start()
    try:
        await until(lambda: _true(len(hook.tries) == 1), 30, "the first try")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        assert await statuses(study) == {flag: "pending"}
        hook.hold_s = 0.0
        second = start()
        try:
            async def delivered() -> bool:
                return await statuses(study) == {flag: "delivered"}
            await until(delivered, 30, "the repeated try")
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(10) == 0
    finally:
        if first.poll() is None:
            first.kill()
    await asyncio.sleep(3.5)  # the held first request is answered meanwhile; no third try
    keys = [k for k, _, _ in hook.tries]
    assert len(keys) == 2 and len(set(keys)) == 1
    assert list(hook.taken) == keys[:1]


async def _true(value: bool) -> bool:
    return value


@dataclass
class Inbox:
    messages: list[bytes] = field(default_factory=list)

    async def handle_DATA(self, _server: object, _session: object, envelope: object) -> str:
        self.messages.append(envelope.content)  # type: ignore[attr-defined]
        return "250 OK"


async def test_e_mail_goes_through_the_relay_over_starttls(study: str, tmp_path: Path) -> None:
    ca = trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1", "localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_cert.configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    inbox = Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    relay = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=context,
                       require_starttls=True)
    relay.start()
    try:
        await add_channel(study, kind="email", target="monitor@example.org")
        [flag] = await store_flags(study, ["high"])
        smtp = SmtpSettings(host="127.0.0.1", port=port, ca_file=ca_file,
                            sender="alerts@trialwire.test")
        await dispatch_until(study, {flag: "delivered"}, "the e-mail", smtp=smtp)
    finally:
        relay.stop()
    [raw] = inbox.messages
    mail = message_from_bytes(raw)
    assert mail["To"] == "monitor@example.org" and mail["From"] == "alerts@trialwire.test"
    assert mail["Subject"] == f"[trialwire] HIGH hr_tachycardia: subject S-1 ({STUDY})"
    assert mail["Message-ID"].startswith(f"<trialwire-flag-{flag}-channel-")
