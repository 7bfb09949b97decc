"""The raw-readings agent: validate, de-duplicate, persist, judge, publish, then commit.

Per batch of envelopes (``stream.take_events``):

1. :class:`~stream.sink.Sink` stores the readings in one transaction (retried with
   backoff while the database is unreachable; nothing is acknowledged meanwhile);
2. dead letters go to the dead-letter topic with ``reason``/``detail`` headers;
3. the flag engine folds the new readings per subject (state in the ``flag-state`` table);
   flags are stored (merged, never doubled) and new or closed ones published;
4. the persisted watermarks are published for the gateways' spools;
5. only then are the Kafka messages acknowledged, so their offsets can be committed.

Offsets are never committed for a batch that failed or was cancelled mid-way
(:mod:`stream.agents.batches`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import psycopg
from faust.types import StreamT, TableT, TopicT

from devices.model import Observation
from storage import flags as flag_store
from storage.errors import is_record_specific
from storage.queries.readings import device_values
from stream import metrics
from stream.agents.batches import committed_batches
from stream.agents.completeness import CompletenessRefresher
from stream.agents.database import Database
from stream.contract import flag as flag_codec
from stream.contract import watermark as watermark_codec
from stream.contract.envelope import Envelope
from stream.contract.envelope import decode as decode_envelope
from stream.contract.flag import Flag
from stream.errors import DeadLetterReason, first_line
from stream.flags.ecg_heart_rate import EcgHeartRate
from stream.flags.engine import REFOLD_LOOKBACK_S, FlagEngine, LateRange
from stream.flags.rulebook import RuleBook
from stream.sink import Sink, SinkResult, to_rows

logger = logging.getLogger(__name__)

PUBLISH_TIMEOUT_S = 120.0  # dead letters, flags and watermarks of one batch acknowledged


class Pipeline:
    def __init__(self, *, db: Database, sink: Sink, rulebook: RuleBook, state: TableT[bytes, Any],
                 dead_letter: TopicT, flags: TopicT, watermarks: TopicT,
                 completeness: CompletenessRefresher, batch_max: int,
                 batch_within_s: float) -> None:
        self.db = db
        self.completeness = completeness
        self.sink = sink
        self.rulebook = rulebook
        self.engine = FlagEngine(rulebook.rules)
        self.ecg_rate = EcgHeartRate()
        self.state = state
        self.dead_letter_topic = dead_letter
        self.flags_topic = flags
        self.watermarks_topic = watermarks
        self.batch_max = batch_max
        self.batch_within_s = batch_within_s

    async def run(self, stream: StreamT[bytes]) -> AsyncIterator[None]:
        """The agent body."""
        async for records in committed_batches(stream, self.batch_max, self.batch_within_s):
            await self.handle([r.value for r in records], [r.key for r in records])
            yield None

    async def handle(self, values: list[bytes | None], keys: list[bytes | None] | None = None,
                     ) -> None:
        started = time.perf_counter()
        result = await self._persist(values, keys or [None] * len(values))
        metrics.DB_WRITE_SECONDS.observe(time.perf_counter() - started)
        if self.sink.writer.backfill_pending:  # TimescaleDB: rows older than the policies
            await self.db.run("rollups", self.sink.writer.refresh_backfilled)
        self._count(result)
        for item in result.accepted:
            times = [o.time for o in item.observations] + [g.time for g in item.segments]
            if times:
                self.completeness.touch(min(times), max(times))
        pending = [await self._send_dead_letter(d) for d in result.dead_letters]
        flags = await self._judge(result)
        pending += [await self.flags_topic.send(key=f.subject.encode(), value=flag_codec.encode(f))
                    for f in flags]
        now = datetime.now(UTC)
        pending += [await self.watermarks_topic.send(
            key=gateway_id.encode(), value=watermark_codec.encode(watermark_codec.Watermark(
                gateway_id=gateway_id, devices=devices, at=now)))
            for gateway_id, devices in result.watermarks.items()]
        # acks=all: delivered before the offsets move. Bounded: a send whose answer never
        # comes would hold the partition for ever; failing here ends the worker with the
        # batch's offsets uncommitted, and a fresh worker redoes it (idempotently).
        await asyncio.wait_for(asyncio.gather(*pending), PUBLISH_TIMEOUT_S)

    async def _persist(self, values: list[bytes | None], keys: list[bytes | None],
                       ) -> SinkResult:
        """Persist the batch; if the database refuses rows of it, split it in halves until
        the envelope to blame is alone, and dead-letter that one (``storage_rejected``).
        Errors that do not blame the rows (schema missing, permissions) propagate: the
        worker stops with the offsets where they were."""
        try:
            return await self.db.run("persist", lambda c: self.sink.persist(c, values, keys))
        except Exception as exc:
            if not is_record_specific(exc):
                raise
            detail = first_line(exc)
            if len(values) == 1:
                logger.warning("the database refused an envelope; dead-lettered: %s", detail)
                return await self.db.run(
                    "reject", lambda c: self.sink.reject(c, values[0], keys[0], detail))
            logger.info("the database refused a batch of %d (%s); splitting it", len(values),
                        detail)
            mid = len(values) // 2
            first = await self._persist(values[:mid], keys[:mid])
            return first.merged(await self._persist(values[mid:], keys[mid:]))

    def _count(self, result: SinkResult) -> None:
        metrics.ENVELOPES.labels("stored").inc(result.envelopes)
        metrics.ENVELOPES.labels("duplicate").inc(result.duplicate_batches)
        metrics.READINGS.labels("inserted").inc(result.readings_inserted)
        metrics.READINGS.labels("duplicate").inc(result.readings_duplicate)
        metrics.SEGMENTS.labels("inserted").inc(result.segments_inserted)
        metrics.SEGMENTS.labels("duplicate").inc(result.segments_duplicate)
        for reason, count in result.rejected_by_reason.items():
            metrics.REJECTS.labels(reason).inc(count)
            logger.info("dead-lettered %d envelope(s): %s", count, reason)

    async def _send_dead_letter(self, dead: Any) -> Any:
        headers = {"reason": dead.reason.encode(), "detail": dead.detail[:1000].encode()}
        return await self.dead_letter_topic.send(key=dead.key, value=dead.value,
                                                 headers=headers)

    async def _judge(self, result: SinkResult) -> list[Flag]:
        """Fold the batch through the rules and store the flags; returns those to publish."""
        per_subject: dict[str, list[Observation]] = {}
        replay: dict[str, list[Observation]] = {}
        for item in result.accepted:
            per_subject.setdefault(item.envelope.subject, []).extend(item.observations)
            if item.segments:
                per_subject[item.envelope.subject].extend(self.ecg_rate.add(item.segments))
        for env in result.duplicates:
            replay.setdefault(env.subject, []).extend(to_rows(env)[0])
        enrollments = self.sink.enrollments
        studies = {s: (enrollments.study_of(s) if enrollments else None)
                   for s in per_subject.keys() | replay.keys()}
        known = {s: st for s, st in studies.items() if st is not None}
        if (not known and not any(d.reason == DeadLetterReason.IMPLAUSIBLE_VALUE
                                  for d in result.dead_letters)
                and not any(i.envelope.dropped for i in result.accepted)):
            return []
        await self.db.run("rules", lambda c: self.rulebook.refresh(c, set(known.values())))
        flags: list[Flag] = []
        late: list[tuple[str, LateRange]] = []
        new_states: dict[str, dict[str, Any]] = {}
        for subject, study in known.items():
            state = dict(self.state.get(subject.encode()) or {})
            if subject in replay:  # only what lies beyond the state's watermark counts
                found, _behind = self.engine.fold(state, study=study, subject=subject,
                                                  observations=replay[subject])
                flags += found
            if subject in per_subject:
                found, behind = self.engine.fold(state, study=study, subject=subject,
                                                 observations=per_subject[subject])
                flags += found
                late += [(study, r) for r in behind]
            new_states[subject] = state
        flags += self._impossible_value_flags(result)
        flags += self._data_dropped_flags(result)

        async def store(conn: psycopg.AsyncConnection[Any]) -> list[Flag]:
            found = list(flags)  # a fresh list per attempt: this may be retried
            for study, rng in late:
                found += self.engine.refold(study=study, late=rng,
                                            samples=await _stored_samples(conn, rng))
            published = []
            async with conn.transaction():
                for flag in found:
                    flag_id, new = await flag_store.store(conn, flag)
                    metrics.FLAGS.labels(flag.rule_id, "new" if new else "merged").inc()
                    if new or flag.closed:
                        published.append(msgspec.structs.replace(flag, flag_id=flag_id))
            return published

        published = await self.db.run("flags", store) if flags or late else []
        # The state moves only after the flags are stored: a crash in between re-judges the
        # batch on redelivery, and the store merges what was already there.
        for subject, state in new_states.items():
            self.state[subject.encode()] = state
        return published

    def _data_dropped_flags(self, result: SinkResult) -> list[Flag]:
        out = []
        enrollments = self.sink.enrollments
        for item in result.accepted:
            env = item.envelope
            study = enrollments.study_of(env.subject) if enrollments else None
            rule = self.rulebook.rules(study or "").get("data_dropped")
            if study is None or rule is None:
                continue
            flag = data_dropped_flag(env, study=study, rule_id=rule.rule_id,
                                     version=rule.version, severity=rule.severity)
            if flag is not None:
                out.append(flag)
        return out

    def _impossible_value_flags(self, result: SinkResult) -> list[Flag]:
        out = []
        enrollments = self.sink.enrollments
        for dead in result.dead_letters:
            if dead.reason != DeadLetterReason.IMPLAUSIBLE_VALUE:
                continue
            env = decode_envelope(dead.value)
            study = enrollments.study_of(env.subject) if enrollments else None
            rule = self.rulebook.rules(study or "").get("impossible_value")
            if study is None or rule is None:
                continue
            times = sorted(r.time for r in env.readings)
            out.append(Flag(
                study=study, subject=env.subject, device_id=env.device_id,
                metric=env.readings[0].metric, rule_id=rule.rule_id, rule_version=rule.version,
                severity=rule.severity, window_start=times[0], window_end=times[-1],
                raised_at=times[-1], raised_on="live", closed=True,
                trigger_values=[(r.time, r.value) for r in env.readings][:20],
                details={"reason": dead.detail[:200]}))
        return out


def data_dropped_flag(env: Envelope, *, study: str, rule_id: str, version: int,
                      severity: str) -> Flag | None:
    """Pure: the flag of a gateway's loss report (None for any other envelope)."""
    if env.dropped is None:
        return None
    return Flag(
        study=study, subject=env.subject, device_id=env.device_id, metric=None,
        rule_id=rule_id, rule_version=version, severity=severity,
        window_start=env.dropped.first, window_end=env.dropped.last,
        raised_at=env.dropped.last,
        raised_on="live", closed=True, trigger_values=[],
        details={"items": env.dropped.items, "gateway_id": env.gateway_id,
                 "seq_from": env.seq_from, "seq_to": env.seq_to,
                 "reason": "the gateway's spool was over its disk budget"})


async def _stored_samples(conn: psycopg.AsyncConnection[Any], late: LateRange,
                          ) -> list[tuple[float, float, bool]]:
    found = await device_values(conn, subject=late.subject, device_id=late.device_id,
                                metric=late.metric,
                                start=late.start - timedelta(seconds=REFOLD_LOOKBACK_S),
                                end=late.end)
    return [(r.time.timestamp(), float(r.value), bool(r.quality & 1)) for r in found]

