"""The persisting sink's core: envelopes in, rows and watermarks out, in one transaction.

Framework-free so it can be tested against a real database on its own; the Faust agent
(:mod:`stream.agents.persist`) feeds it batches and commits Kafka offsets only after
:meth:`Sink.persist` returned (the database transaction has committed). Bad envelopes come
back as dead letters with a reason instead of raising: one bad batch never blocks the
partition.

Order of checks per envelope: schema (every field range-checked on decoding; an empty
record, a Kafka tombstone, is invalid too) → times within the window around receipt
(:mod:`stream.validation.time_window`) → duplicate (batch id seen in this batch, or a range
the persisted watermark already covers: skipped before any write, so re-sent batches cost
one indexed lookup per gateway) → enrollment → storage validity → plausibility (only the
implausible readings are dead-lettered; the rest are stored).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import msgspec
from psycopg import AsyncConnection

from devices.model import Observation, Quality, WaveformSegment
from storage import device_records, watermarks
from storage.errors import InvalidReadingError
from storage.readings import ReadingWriter, validate_observation, validate_segment
from stream.contract.envelope import SCHEMA_VERSION, Envelope, WireReading, decode_header
from stream.contract.envelope import decode as decode_envelope
from stream.contract.envelope import encode as encode_envelope
from stream.errors import DeadLetterReason
from stream.validation.enrollment import EnrollmentIndex
from stream.validation.plausibility import implausible
from stream.validation.time_window import time_problem

logger = logging.getLogger(__name__)

Span = tuple[str, str, int, int]  # gateway, device, seq_from, seq_to


@dataclass(frozen=True, slots=True)
class DeadLetter:
    value: bytes
    reason: DeadLetterReason
    detail: str
    # Set when the envelope was readable: a dead-lettered batch is handled (kept in the
    # dead-letter topic), so the watermark passes it and the gateway stops re-sending what
    # can never be stored.
    span: Span | None = None
    key: bytes | None = None  # the record's own Kafka key; else the subject code, if readable


@dataclass
class Accepted:
    """The stored content of one envelope, as the anomaly rules see it."""

    envelope: Envelope
    observations: list[Observation]
    segments: list[WaveformSegment]


@dataclass
class SinkResult:
    envelopes: int = 0
    duplicate_batches: int = 0
    readings_inserted: int = 0
    readings_duplicate: int = 0
    segments_inserted: int = 0
    segments_duplicate: int = 0
    dead_letters: list[DeadLetter] = field(default_factory=list)
    watermarks: dict[str, dict[str, int]] = field(default_factory=dict)
    accepted: list[Accepted] = field(default_factory=list)
    # Skipped as already persisted; the flag engine still looks at them, since a worker
    # may have stopped after the database commit and before judging them.
    duplicates: list[Envelope] = field(default_factory=list)

    @property
    def rejected_by_reason(self) -> Counter[str]:
        return Counter(d.reason for d in self.dead_letters)

    def merged(self, later: SinkResult) -> SinkResult:
        """Both results as one (a batch persisted in parts); ``later``'s watermarks win."""
        marks = {g: dict(d) for g, d in self.watermarks.items()}
        for gateway_id, devices in later.watermarks.items():
            marks.setdefault(gateway_id, {}).update(devices)
        return SinkResult(
            envelopes=self.envelopes + later.envelopes,
            duplicate_batches=self.duplicate_batches + later.duplicate_batches,
            readings_inserted=self.readings_inserted + later.readings_inserted,
            readings_duplicate=self.readings_duplicate + later.readings_duplicate,
            segments_inserted=self.segments_inserted + later.segments_inserted,
            segments_duplicate=self.segments_duplicate + later.segments_duplicate,
            dead_letters=self.dead_letters + later.dead_letters, watermarks=marks,
            accepted=self.accepted + later.accepted, duplicates=self.duplicates + later.duplicates)


def to_rows(env: Envelope) -> tuple[list[Observation], list[WaveformSegment]]:
    offset = env.clock.offset_ms if env.clock is not None else None
    observations = [Observation(
        time=r.time, subject=env.subject, device_id=env.device_id, metric=r.metric,
        value=r.value, unit=r.unit, seq=r.seq, received_at=r.received_at,
        quality=r.quality | (Quality.BACKFILLED if r.backfilled else 0),
        gateway_id=env.gateway_id, specimen=r.specimen, clock_offset_ms=offset)
        for r in env.readings]
    segments = [WaveformSegment(
        time=s.time, subject=env.subject, device_id=env.device_id, lead=s.lead,
        sampling_rate_hz=s.sampling_rate_hz, samples=s.samples, seq=s.seq,
        received_at=s.received_at, unit=s.unit, quality=s.quality, gateway_id=env.gateway_id,
        clock_offset_ms=offset) for s in env.segments]
    return observations, segments


def _wire_of(item: Accepted) -> list[WireReading]:
    """The wire readings behind ``item.observations``, in order."""
    by_key = {(r.metric, r.seq): r for r in item.envelope.readings}
    return [by_key[(o.metric, o.seq)] for o in item.observations]


def _time_span(env: Envelope) -> tuple[object, object] | None:
    times = [r.time for r in env.readings] + [s.time for s in env.segments]
    if env.dropped is not None:  # a loss report: the enrollment must cover the lost data
        times += [env.dropped.first, env.dropped.last]
    return (min(times), max(times)) if times else None


class Sink:
    def __init__(self, writer: ReadingWriter, enrollments: EnrollmentIndex | None = None,
                 *, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.writer = writer
        # None: no enrollment check (tools that load data outside a study).
        self.enrollments = enrollments
        self.clock = clock

    def _decode(self, value: bytes | None, key: bytes | None, result: SinkResult,
                ) -> Envelope | None:
        if not value:
            result.dead_letters.append(DeadLetter(
                b"", DeadLetterReason.INVALID_ENVELOPE, "empty record (a tombstone?)", None, key))
            return None
        try:
            env = decode_envelope(value)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            header = decode_header(value)
            readable = None if header is None else (
                header.gateway_id, header.device_id, header.seq_from, header.seq_to)
            result.dead_letters.append(
                DeadLetter(value, DeadLetterReason.INVALID_ENVELOPE, str(exc), readable, key))
            return None
        span = (env.gateway_id, env.device_id, env.seq_from, env.seq_to)
        key = key or env.subject.encode()
        if env.schema_version != SCHEMA_VERSION:
            result.dead_letters.append(DeadLetter(
                value, DeadLetterReason.UNSUPPORTED_SCHEMA, f"schema_version {env.schema_version}",
                span, key))
            return None
        if env.seq_to < env.seq_from:
            result.dead_letters.append(DeadLetter(value, DeadLetterReason.INVALID_ENVELOPE,
                                                  "seq_to is before seq_from", None, key))
            return None
        problem = time_problem(env, self.clock())
        if problem is not None:
            result.dead_letters.append(
                DeadLetter(value, DeadLetterReason.IMPLAUSIBLE_TIME, problem, span, key))
            return None
        return env

    def _enrollment_problem(self, env: Envelope) -> str | None:
        assert self.enrollments is not None
        times = _time_span(env)
        if times is None:
            return None
        first, last = times
        return self.enrollments.check(device_id=env.device_id, subject=env.subject,
                                      gateway_id=env.gateway_id, first=first, last=last)  # type: ignore[arg-type]

    def _accept(self, value: bytes, key: bytes | None, env: Envelope, result: SinkResult,
                ) -> Accepted | None:
        span = (env.gateway_id, env.device_id, env.seq_from, env.seq_to)
        key = key or env.subject.encode()
        if self.enrollments is not None:
            problem = self._enrollment_problem(env)
            if problem is not None:
                result.dead_letters.append(
                    DeadLetter(value, DeadLetterReason.NOT_ENROLLED, problem, span, key))
                return None
        observations, segments = to_rows(env)
        try:
            for i, obs in enumerate(observations):
                validate_observation(obs, i)
            for i, seg in enumerate(segments):
                validate_segment(seg, i)
        except InvalidReadingError as exc:
            result.dead_letters.append(
                DeadLetter(value, DeadLetterReason.INVALID_READING, str(exc), span, key))
            return None
        kept: list[Observation] = []
        rejected = []
        reasons = []
        for obs, wire in zip(observations, env.readings, strict=True):
            why = implausible(obs.metric, obs.value)
            if why is None:
                kept.append(obs)
            else:
                rejected.append(wire)
                reasons.append(why)
        if rejected:
            # Only the implausible readings go to the dead-letter topic; the batch's range
            # counts as handled through the stored part.
            copy = msgspec.structs.replace(env, readings=rejected, segments=[])
            result.dead_letters.append(DeadLetter(
                encode_envelope(copy), DeadLetterReason.IMPLAUSIBLE_VALUE, "; ".join(reasons), None, key))
        return Accepted(env, kept, segments)

    async def persist(self, conn: AsyncConnection[object], values: Sequence[bytes | None],
                      keys: Sequence[bytes | None] | None = None) -> SinkResult:
        """Store a batch of envelopes (Kafka values, with their keys if known); returns
        counts, dead letters and the new watermarks.

        Storage errors propagate (retryable ones: the caller waits and retries the whole
        batch, its offsets uncommitted); re-delivered envelopes insert nothing. The caller
        publishes ``dead_letters`` (and then the watermarks) before committing offsets.
        """
        result = SinkResult()
        decoded: list[tuple[bytes, bytes | None, Envelope]] = []
        for value, key in zip(values, keys if keys is not None else [None] * len(values),
                              strict=True):
            env = self._decode(value, key, result)
            if env is not None and value is not None:
                decoded.append((value, key, env))
        fresh = await self._drop_duplicates(conn, decoded, result)
        if self.enrollments is not None and self.enrollments.stale:
            await self.enrollments.load(conn)
        accepted: list[Accepted] = []
        for value, key, env in fresh:
            before = len(result.dead_letters)
            item = self._accept(value, key, env, result)
            if (item is None and self.enrollments is not None and self.enrollments.stale
                    and result.dead_letters[-1].reason == DeadLetterReason.NOT_ENROLLED):
                # A new enrollment may not be in the cached copy yet: reload once and retry.
                del result.dead_letters[before:]
                await self.enrollments.load(conn)
                item = self._accept(value, key, env, result)
            if item is not None:
                accepted.append(item)
        result.envelopes = len(accepted)
        result.accepted = accepted
        ranges: dict[tuple[str, str], list[tuple[int, int]]] = {}
        for item in accepted:
            env = item.envelope
            ranges.setdefault((env.gateway_id, env.device_id), []).append(
                (env.seq_from, env.seq_to))
        for dead in result.dead_letters:
            if dead.span is not None:
                gateway_id, device_id, lo, hi = dead.span
                ranges.setdefault((gateway_id, device_id), []).append((lo, hi))
        for _value, _key, env in decoded:
            if env.starts_spool and env.seq_from > 0:  # a new spool: nothing below is to come
                ranges.setdefault((env.gateway_id, env.device_id), []).append(
                    (0, env.seq_from - 1))
        async with conn.transaction():
            await self._drop_stored_records(conn, accepted, result)
            observations = [o for item in accepted for o in item.observations]
            segments = [s for item in accepted for s in item.segments]
            if observations:
                written = await self.writer.write_readings(conn, observations, validated=True)
                result.readings_inserted = written.inserted
                result.readings_duplicate += written.duplicates
            if segments:
                written = await self.writer.write_segments(conn, segments, validated=True)
                result.segments_inserted = written.inserted
                result.segments_duplicate = written.duplicates
            await watermarks.record_many(conn, ranges)
            # Duplicates too: a gateway re-sends when it missed the watermark, so it needs it.
            wanted = {g for g, _d in ranges} | {e.gateway_id for _v, _k, e in decoded}
            if wanted:
                for (gateway_id, device_id), through in (
                        await watermarks.for_gateways(conn, wanted)).items():
                    result.watermarks.setdefault(gateway_id, {})[device_id] = through
        return result

    async def _drop_stored_records(self, conn: AsyncConnection[object],
                                   accepted: list[Accepted], result: SinkResult) -> None:
        """Leave out device records already stored under another time stamp (a replaced
        hub backfilling the device's store again: ``storage/device_records.py``)."""
        records = [((o.subject, o.device_id, o.metric, o.seq), o.time)
                   for item in accepted for o, w in zip(item.observations, _wire_of(item),
                                                        strict=True)
                   if w.record is not None]
        if not records:
            return
        stored = await device_records.already_stored(conn, records)
        if not stored:
            return
        for item in accepted:
            kept = [o for o in item.observations
                    if (o.subject, o.device_id, o.metric, o.seq) not in stored]
            result.readings_duplicate += len(item.observations) - len(kept)
            item.observations[:] = kept

    async def reject(self, conn: AsyncConnection[object], value: bytes | None,
                     key: bytes | None, error: str) -> SinkResult:
        """Dead-letter one envelope whose rows the database refused (``storage_rejected``).
        Its range counts as handled, like any dead letter's, so the gateway stops re-sending
        what can never be stored."""
        result = SinkResult()
        env = None
        if value:
            try:
                env = decode_envelope(value)
            except (msgspec.ValidationError, msgspec.DecodeError):
                env = None
        span = None if env is None else (env.gateway_id, env.device_id, env.seq_from, env.seq_to)
        result.dead_letters.append(DeadLetter(
            value or b"", DeadLetterReason.STORAGE_REJECTED, error, span,
            key or (env.subject.encode() if env is not None else None)))
        if span is not None:
            gateway_id, device_id, lo, hi = span
            async with conn.transaction():
                await watermarks.record_many(conn, {(gateway_id, device_id): [(lo, hi)]})
                for (g, d), through in (await watermarks.for_gateways(conn, {gateway_id})).items():
                    result.watermarks.setdefault(g, {})[d] = through
        return result

    async def _drop_duplicates(self, conn: AsyncConnection[object],
                               decoded: list[tuple[bytes, bytes | None, Envelope]],
                               result: SinkResult,
                               ) -> list[tuple[bytes, bytes | None, Envelope]]:
        """Skip batches seen earlier in this batch or already under the persisted watermark."""
        if not decoded:
            return []
        persisted = await watermarks.for_gateways(conn, {env.gateway_id for _v, _k, env in decoded})
        seen: set[str] = set()
        fresh = []
        for value, key, env in decoded:
            through = persisted.get((env.gateway_id, env.device_id), -1)
            if env.batch_id in seen or env.seq_to <= through:
                result.duplicate_batches += 1
                result.duplicates.append(env)
                logger.debug("duplicate batch %s of %s skipped", env.batch_id, env.device_id)
                continue
            seen.add(env.batch_id)
            fresh.append((value, key, env))
        return fresh
