"""The status agent: gateway heartbeats into the database (for gap attribution) and the
status-based data-quality rules, ``device_silent`` and ``clock_drift``.

A status message that does not decode (or a tombstone) is dead-lettered alone with reason
``invalid_status`` and its own key; the statuses beside it are handled.

Both rules judge the gateway's own reports in the gateway's time: a device whose last
reading is older than ``silent_s`` at a status time, a clock whose estimated offset or
drift is beyond tolerance. Their run state is kept per gateway in the ``status-state``
table (co-partitioned with the status topic, keyed by gateway id).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import psycopg
from faust.types import StreamT, TableT, TopicT

from storage import flags as flag_store
from storage.completeness import record_heartbeat
from stream import metrics
from stream.agents.batches import committed_batches
from stream.agents.completeness import CompletenessRefresher
from stream.agents.database import Database
from stream.contract import flag as flag_codec
from stream.contract import status as status_codec
from stream.contract.flag import Flag
from stream.errors import DeadLetterReason, first_line
from stream.flags.flag import from_episode
from stream.flags.rulebook import RuleBook
from stream.flags.rules.sustained import SustainedThreshold
from stream.validation.enrollment import EnrollmentIndex

logger = logging.getLogger(__name__)


def status_samples(status: status_codec.GatewayStatus, *, silent_s: float,
                   max_offset_ms: float, max_drift_ppm: float,
                   ) -> dict[tuple[str, str], tuple[float, float]]:
    """Pure: per (device, rule) the (time, score) a status contributes; score > 1 is bad.

    device_silent: seconds since the device's last reading / ``silent_s``;
    clock_drift: the larger of |offset| / max offset and |drift| / max drift.
    """
    t = status.at.timestamp()
    out: dict[tuple[str, str], tuple[float, float]] = {}
    for device in status.devices:
        if device.last_reading_at is not None:
            out[(device.device_id, "device_silent")] = (
                t, (t - device.last_reading_at.timestamp()) / silent_s)
        if device.clock_offset_ms is not None:
            out[(device.device_id, "clock_drift")] = (t, max(
                abs(device.clock_offset_ms) / max_offset_ms,
                abs(device.clock_drift_ppm or 0.0) / max_drift_ppm))
    return out


class StatusAgent:
    def __init__(self, *, db: Database, enrollments: EnrollmentIndex, rulebook: RuleBook,
                 state: TableT[bytes, Any], flags: TopicT, dead_letter: TopicT,
                 completeness: CompletenessRefresher) -> None:
        self.db = db
        self.enrollments = enrollments
        self.rulebook = rulebook
        self.state = state
        self.flags_topic = flags
        self.dead_letter_topic = dead_letter
        self.completeness = completeness

    async def run(self, stream: StreamT[bytes]) -> AsyncIterator[None]:
        async for records in committed_batches(stream, 200, 1.0):
            await self.handle([r.value for r in records], [r.key for r in records])
            yield None

    async def handle(self, values: list[bytes | None], keys: list[bytes | None] | None = None,
                     ) -> None:
        statuses = []
        refused = []
        for value, key in zip(values, keys or [None] * len(values), strict=True):
            try:
                statuses.append(status_codec.decode(value or b""))  # a tombstone: refused
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                metrics.REJECTS.labels(DeadLetterReason.INVALID_STATUS).inc()
                logger.warning("status message dead-lettered: %s", first_line(exc))
                refused.append(await self.dead_letter_topic.send(
                    key=key, value=value or b"",
                    headers={"reason": DeadLetterReason.INVALID_STATUS.encode(),
                             "detail": first_line(exc)[:1000].encode()}))
        await asyncio.gather(*refused)  # acks=all: delivered before the offsets move
        if not statuses:
            return

        async def work(conn: psycopg.AsyncConnection[Any]) -> list[Flag]:
            if self.enrollments.stale:
                await self.enrollments.load(conn)
            studies = {s.subject: self.enrollments.study_of(s.subject) for s in statuses}
            await self.rulebook.refresh(conn, {st for st in studies.values() if st})
            flags: list[Flag] = []
            new_states: dict[bytes, dict[str, Any]] = {}
            for status in statuses:
                study = studies[status.subject]
                key = status.gateway_id.encode()
                state = new_states.get(key) or dict(self.state.get(key) or {})
                new_states[key] = state
                if study is not None:
                    flags += self._judge(state, status, study)
            published = []
            async with conn.transaction():
                for status in statuses:
                    await record_heartbeat(
                        conn, gateway_id=status.gateway_id, at=status.at, subject=status.subject,
                        broker_reachable=status.upload.broker_reachable,
                        spool_items=status.spool.items,
                        unpersisted=status.spool.batches_unpersisted,
                        devices=msgspec.json.encode({d.device_id: {
                            "connected": d.connected, "last_reading_at": d.last_reading_at}
                            for d in status.devices}).decode())
                for flag in flags:
                    flag_id, new = await flag_store.store(conn, flag)
                    if new or flag.closed:
                        published.append(msgspec.structs.replace(flag, flag_id=flag_id))
            for key, state in new_states.items():
                self.state[key] = state
            return published

        published = await self.db.run("status", work)
        for status in statuses:
            self.completeness.touch(status.at, status.at)
        for flag in published:
            await (await self.flags_topic.send(key=flag.subject.encode(),
                                               value=flag_codec.encode(flag)))

    def _judge(self, state: dict[str, Any], status: status_codec.GatewayStatus,
               study: str) -> list[Flag]:
        rules = self.rulebook.rules(study)
        silent, drift = rules.get("device_silent"), rules.get("clock_drift")
        samples = status_samples(
            status,
            silent_s=float(silent.param("silent_s")) if silent else float("inf"),
            max_offset_ms=float(drift.param("max_offset_ms")) if drift else float("inf"),
            max_drift_ppm=float(drift.param("max_drift_ppm")) if drift else float("inf"))
        flags = []
        for (device_id, rule_id), (t, score) in samples.items():
            rule = rules.get(rule_id)
            if rule is None:
                continue
            detector = SustainedThreshold(rule_id, ">", 1.0, 0.0, max_gap_s=600.0)
            rule_state = state.setdefault(f"{device_id}|{rule_id}", {})
            if rule_state.get("last", -1.0) >= t:
                continue  # a status already judged (re-delivery)
            rule_state["last"] = t
            for episode in detector.fold(rule_state, [(t, score, False)]):
                flags.append(from_episode(episode, study=study, subject=status.subject,
                                          device_id=device_id, metric=None,
                                          version=rule.version, severity=rule.severity))
        return flags
