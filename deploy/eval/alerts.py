"""``trialwire eval alerts``: flags raised by the real stream worker reach a healthy
webhook, a webhook that refuses each alert's first three tries, and an SMTP inbox, through
the real alert dispatcher, while the worker and the dispatcher are each SIGKILLed once
mid-run; a gateway the platform stops hearing from and devices that never sent anything
are flagged; and an on-call webhook, the second level, gets exactly the tachycardia flags
nobody acknowledged within ``ESCALATE_AFTER_S`` (a monitor acknowledges those of the
even-numbered subjects as soon as they appear).

Per channel: the alerts expected (each flag at or above the channel's minimum severity),
delivered (idempotency keys the receiver took), duplicates (repeats of a taken key: the
receiver's de-duplication absorbs them), lost (expected, never taken), and the latency from
the flag's storing to the receiver taking it (p50, p99). Escalations: expected (flags left
unacknowledged), fired, wrongly fired (to an acknowledged flag), lost, and the delay past
the escalation's due time.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from aiokafka import AIOKafkaProducer
from rich.console import Console

from deploy.bench.report import percentile
from deploy.bench.seed import STUDY, seed_study
from deploy.eval.alert_receivers import SmtpInbox, Taken, WebhookReceiver
from deploy.eval.platform import Platform
from deploy.processes import ProcessGroup
from storage import alerts as alert_store
from storage.queries import evaluation
from storage.queries import flags as flag_queries
from stream.alerts import matching
from stream.contract.envelope import Envelope, WireReading, encode

_stderr = Console(stderr=True, highlight=False)
TARGET_WEBHOOK_P99_MS = 5_000
TARGET_EMAIL_P99_MS = 10_000
OFFLINE_TARGET_S = 120
ESCALATE_AFTER_S = 20
ACK_POLL_S = 0.5


def _progress(message: str) -> None:
    _stderr.print(f"[eval] {message}", markup=False)


def _tachycardia(subject: int, t0: datetime) -> bytes:
    """70 s at 130/min from subject ``subject``'s watch: one high-severity flag."""
    return encode(Envelope(
        batch_id=str(uuid.uuid4()), gateway_id=f"GW-{subject}", device_id=f"W-{subject}",
        device_type="smartwatch", subject=f"S-{subject}", seq_from=0, seq_to=69, sent_at=t0,
        readings=[WireReading(seq=i, metric="heart_rate", value=130.0, unit="/min",
                              time=t0 + timedelta(seconds=i),
                              received_at=t0 + timedelta(seconds=i)) for i in range(70)]))


def _pct(values: list[float], p: float) -> float | None:
    return round(percentile(values, p), 1) if values else None


def _channel_result(expected: dict[str, datetime], taken: Taken) -> dict[str, Any]:
    latencies = [(taken.first[key] - created.timestamp()) * 1000
                 for key, created in expected.items() if key in taken.first]
    return {"expected": len(expected), "delivered": sum(k in taken.first for k in expected),
            "duplicates": taken.duplicates, "lost": sum(k not in taken.first for k in expected),
            "refused_on_purpose": taken.refused, "bad_signatures": taken.bad_signatures,
            "p50_ms": _pct(latencies, 50), "p99_ms": _pct(latencies, 99)}


def _escalation_result(expected: dict[str, datetime], acknowledged: set[str],
                       taken: Taken) -> dict[str, Any]:
    """``expected``: keys of the flags left unacknowledged, with their storing time;
    ``acknowledged``: keys of the flags acknowledged in time (their escalation cancelled)."""
    delays = [(taken.first[key] - created.timestamp() - ESCALATE_AFTER_S) * 1000
              for key, created in expected.items() if key in taken.first]
    return {"expected": len(expected), "fired": sum(k in taken.first for k in expected),
            "cancelled_expected": len(acknowledged),
            "wrongly_fired": sum(k in taken.first for k in acknowledged),
            "lost": sum(k not in taken.first for k in expected),
            "duplicates": taken.duplicates, "after_s": ESCALATE_AFTER_S,
            "delay_past_due_p50_ms": _pct(delays, 50),
            "delay_past_due_p99_ms": _pct(delays, 99)}


class Monitor:
    """Acknowledges the tachycardia flags of even-numbered subjects as they appear (what a
    monitor at the page would do), so their escalations must be cancelled."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.acknowledged: dict[int, float] = {}  # flag id → seconds after its storing

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                conn = await self.platform.connect()
                try:
                    for row in await evaluation.flags_with_sites(conn):
                        if (row.rule_id == "hr_tachycardia" and row.status == "open"
                                and int(row.subject.rsplit("-", 1)[1]) % 2 == 0):
                            await flag_queries.set_status(conn, flag_id=row.id,
                                                          status="acknowledged")
                            self.acknowledged[row.id] = round(
                                time.time() - row.created_at.timestamp(), 2)
                    await conn.commit()
                finally:
                    await conn.close()
            except (psycopg.Error, OSError):  # the database is never stopped here; retried
                pass
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), ACK_POLL_S)


async def evaluate(root: Path, *, flags: int = 12, report: Callable[[str], None] = _progress,
                   timeout_s: float = 300.0) -> dict[str, Any]:
    report("starting embedded PostgreSQL and broker")
    platform = await Platform.start(root)
    healthy, flaky, inbox = WebhookReceiver(), WebhookReceiver(fail_first=3), SmtpInbox()
    oncall = WebhookReceiver()
    monitor, monitor_stop = Monitor(platform), asyncio.Event()
    group: ProcessGroup | None = None
    try:
        async with healthy.serving() as healthy_url, flaky.serving() as flaky_url, \
                oncall.serving() as oncall_url:
            with inbox.serving() as smtp_port:
                t0 = datetime.now(UTC) - timedelta(hours=1)
                conn = await platform.connect()
                try:
                    await seed_study(conn, subjects=flags + 1, start=t0 - timedelta(hours=1))
                    # Entered long ago too: the devices that never send are due for
                    # device_never_seen at the worker's first check.
                    await evaluation.entered_long_ago(conn, at=t0 - timedelta(hours=1))
                    healthy.secret = (await alert_store.create_channel(
                        conn, study=STUDY, name="webhook", kind="webhook", target=healthy_url,
                        min_severity="low")).secret or ""
                    flaky.secret = (await alert_store.create_channel(
                        conn, study=STUDY, name="webhook-flaky", kind="webhook",
                        target=flaky_url, min_severity="low")).secret or ""
                    await alert_store.create_channel(conn, study=STUDY, name="email",
                                                     kind="email", target="monitor@eval.test",
                                                     min_severity="low")
                    oncall.secret = (await alert_store.create_channel(
                        conn, study=STUDY, name="on-call", kind="webhook", target=oncall_url,
                        min_severity="high", escalate_after_s=ESCALATE_AFTER_S)).secret or ""
                    # The last subject's gateway was heard from now and never again.
                    offline_gateway = f"GW-{flags + 1}"
                    await evaluation.gateway_heard_now(conn, gateway_id=offline_gateway)
                    heard_at = time.time()
                    await conn.commit()
                finally:
                    await conn.close()
                env = {**platform.env(), "TRIALWIRE_LOG_FORMAT": "json",
                       "TRIALWIRE_SMTP_HOST": "127.0.0.1", "TRIALWIRE_SMTP_PORT": str(smtp_port),
                       "TRIALWIRE_SMTP_STARTTLS": "false",
                       "TRIALWIRE_ALERTS_POLL_S": "0.2"}
                group = ProcessGroup(root / "logs", env)
                group.start_cli("stream-worker", ["stream", "worker"])
                group.start_cli("alerts", ["alerts", "run"])
                acknowledging = asyncio.create_task(monitor.run(monitor_stop))
                report(f"{flags} tachycardia runs, one every 2 s; the worker and the "
                       "dispatcher each SIGKILLed once mid-run")
                producer = AIOKafkaProducer(**platform.kafka.producer_config())
                await producer.start()
                try:
                    for i in range(1, flags + 1):
                        await (await producer.send(platform.kafka.topics.raw_readings,
                                                   _tachycardia(i, t0), key=f"S-{i}".encode()))
                        if i == flags // 3:
                            group.kill("alerts", signal.SIGKILL)
                        if i == 2 * flags // 3:
                            group.kill("stream-worker", signal.SIGKILL)
                        group.respawn({"alerts", "stream-worker"})
                        await asyncio.sleep(2.0)
                finally:
                    await producer.stop()
                outcome = await _wait_for_deliveries(
                    platform, group, flags=flags, heard_at=heard_at, timeout_s=timeout_s,
                    report=report, taken={"webhook": healthy.taken,
                                          "webhook-flaky": flaky.taken, "email": inbox.taken,
                                          "on-call": oncall.taken})
                monitor_stop.set()
                await acknowledging
                restarts = dict(group.restarts)
    finally:
        monitor_stop.set()
        if group is not None:
            group.stop_all()
        platform.stop()
    by_name = {"webhook": healthy.taken, "webhook-flaky": flaky.taken, "email": inbox.taken}
    channels = {name: _channel_result(outcome.expected.get(name, {}), taken)
                for name, taken in by_name.items()}
    return {
        "channels": channels,
        "gateway_offline_s": outcome.offline_s,
        "device_never_seen": {"expected": 4 * (flags + 1) - flags,
                              "raised": outcome.never_seen},
        "escalations": _escalation_result(outcome.expected.get("on-call", {}),
                                          outcome.cancelled, oncall.taken),
        "acknowledged_after_s_max": max(monitor.acknowledged.values(), default=None),
        "restarts": restarts,
        "targets": {"lost": 0, "duplicates": 0, "webhook_p99_ms": TARGET_WEBHOOK_P99_MS,
                    "email_p99_ms": TARGET_EMAIL_P99_MS,
                    "gateway_offline_s": OFFLINE_TARGET_S,
                    "escalations": "fired == expected, wrongly_fired 0"},
        "setup": {"flags": flags, "flaky_webhook_refuses_first": flaky.fail_first,
                  "devices_without_data": "every seeded device but the watches W-1..W-N"},
    }


@dataclass
class Outcome:
    expected: dict[str, dict[str, datetime]] = field(default_factory=dict)  # channel → keys
    cancelled: set[str] = field(default_factory=set)  # escalation keys of acknowledged flags
    offline_s: float | None = None  # from the offline gateway's last contact to its flag
    never_seen: int = 0  # device_never_seen flags


async def _wait_for_deliveries(platform: Platform, group: ProcessGroup, *, flags: int,
                               taken: dict[str, Taken], heard_at: float, timeout_s: float,
                               report: Callable[[str], None]) -> Outcome:
    """Until every expected alert was taken by every receiver and every escalation's due
    time has passed (or ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    outcome = Outcome()
    while time.monotonic() < deadline:
        group.respawn({"alerts", "stream-worker"})
        conn = await platform.connect()
        try:
            rows = await evaluation.flags_with_sites(conn)
            channels = await alert_store.channels(conn, study=STUDY)
        finally:
            await conn.close()
        outcome.expected = {c.name: {} for c in channels}
        outcome.cancelled = set()
        outcome.never_seen = sum(1 for r in rows if r.rule_id == "device_never_seen")
        for row in rows:
            if row.rule_id == "gateway_offline" and outcome.offline_s is None:
                outcome.offline_s = round(row.created_at.timestamp() - heard_at, 1)
            for c in channels:
                if not matching.matches(c, _flag_stub(row)):
                    continue
                key = alert_store.idempotency_key(row.id, c.id)
                if c.escalate_after_s and row.status in ("acknowledged", "resolved"):
                    outcome.cancelled.add(key)
                else:
                    outcome.expected[c.name][key] = row.created_at
        tachycardia = [r for r in rows if r.rule_id == "hr_tachycardia"]
        escalations_due = all(time.time() > r.created_at.timestamp() + ESCALATE_AFTER_S + 3
                              for r in tachycardia)
        if (len(tachycardia) >= flags and outcome.offline_s is not None and escalations_due
                and all(set(keys) <= set(taken[name].first)
                        for name, keys in outcome.expected.items())):
            return outcome
        await asyncio.sleep(1.0)
    report(f"not every alert arrived within {timeout_s:.0f} s")
    return outcome


def _flag_stub(row: evaluation.AlertedFlag) -> alert_store.NewFlag:
    """What channel matching reads of a flag (study, site, rule, severity)."""
    return alert_store.NewFlag(row.id, STUDY, row.site, row.subject, None, row.rule_id, 1,
                               row.severity,
                               "live", row.created_at, row.created_at, [], {}, row.created_at)


def run(*, flags: int = 12) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="trialwire-eval-alerts-") as tmp:
        return asyncio.run(evaluate(Path(tmp), flags=flags))

