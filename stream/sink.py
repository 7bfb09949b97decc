"""The persisting sink's core: envelopes in, rows and watermarks out, in one transaction.

Framework-free so it can be tested against a real database on its own; the Faust agent
feeds it batches and commits Kafka offsets only after :meth:`Sink.persist` returned (the
database transaction has committed). Bad envelopes come back as dead letters with a
reason instead of raising: one bad batch never blocks the partition.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import msgspec
from psycopg import AsyncConnection

from devices.model import Observation, WaveformSegment
from storage import watermarks
from storage.errors import InvalidReadingError
from storage.readings import ReadingWriter, validate_observation, validate_segment
from stream.envelope import SCHEMA_VERSION, Envelope
from stream.envelope import decode as decode_envelope

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    value: bytes
    reason: str  # machine-readable: invalid_envelope, unsupported_schema, invalid_reading
    detail: str
    # (gateway, device, seq_from, seq_to) when the envelope was readable: a dead-lettered
    # batch is handled (kept in the dead-letter topic), so the watermark passes it and
    # the gateway stops re-sending what can never be stored.
    span: tuple[str, str, int, int] | None = None


@dataclass
class SinkResult:
    envelopes: int = 0
    readings_inserted: int = 0
    readings_duplicate: int = 0
    segments_inserted: int = 0
    segments_duplicate: int = 0
    dead_letters: list[DeadLetter] = field(default_factory=list)
    watermarks: dict[str, dict[str, int]] = field(default_factory=dict)


def to_rows(env: Envelope) -> tuple[list[Observation], list[WaveformSegment]]:
    offset = env.clock.offset_ms if env.clock is not None else None
    observations = [Observation(
        time=r.time, subject=env.subject, device_id=env.device_id, metric=r.metric,
        value=r.value, unit=r.unit, seq=r.seq, received_at=r.received_at, quality=r.quality,
        gateway_id=env.gateway_id, specimen=r.specimen, clock_offset_ms=offset)
        for r in env.readings]
    segments = [WaveformSegment(
        time=s.time, subject=env.subject, device_id=env.device_id, lead=s.lead,
        sampling_rate_hz=s.sampling_rate_hz, samples=s.samples, seq=s.seq,
        received_at=s.received_at, unit=s.unit, quality=s.quality, gateway_id=env.gateway_id,
        clock_offset_ms=offset) for s in env.segments]
    return observations, segments


class Sink:
    def __init__(self, writer: ReadingWriter) -> None:
        self.writer = writer

    def _accept(self, value: bytes, result: SinkResult,
                ) -> tuple[Envelope, list[Observation], list[WaveformSegment]] | None:
        try:
            env = decode_envelope(value)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            result.dead_letters.append(DeadLetter(value, "invalid_envelope", str(exc)))
            return None
        span = (env.gateway_id, env.device_id, env.seq_from, env.seq_to)
        if env.schema_version != SCHEMA_VERSION:
            result.dead_letters.append(DeadLetter(
                value, "unsupported_schema", f"schema_version {env.schema_version}", span))
            return None
        if env.seq_to < env.seq_from:
            result.dead_letters.append(DeadLetter(value, "invalid_envelope",
                                                  "seq_to is before seq_from"))
            return None
        observations, segments = to_rows(env)
        try:
            for i, obs in enumerate(observations):
                validate_observation(obs, i)
            for i, seg in enumerate(segments):
                validate_segment(seg, i)
        except InvalidReadingError as exc:
            result.dead_letters.append(DeadLetter(value, "invalid_reading", str(exc), span))
            return None
        return env, observations, segments

    async def persist(self, conn: AsyncConnection[object], values: list[bytes]) -> SinkResult:
        """Store a batch of envelopes; returns counts, dead letters and the new watermarks.

        Storage errors propagate (retryable ones: the caller waits and retries the whole
        batch, its offsets uncommitted); re-delivered envelopes insert nothing. The caller
        publishes ``dead_letters`` (and then the watermarks) before committing offsets.
        """
        result = SinkResult()
        accepted = [a for a in (self._accept(v, result) for v in values) if a is not None]
        result.envelopes = len(accepted)
        ranges: dict[tuple[str, str], list[tuple[int, int]]] = {}
        for env, _obs, _segs in accepted:
            ranges.setdefault((env.gateway_id, env.device_id), []).append(
                (env.seq_from, env.seq_to))
        for dead in result.dead_letters:
            if dead.span is not None:
                gateway_id, device_id, lo, hi = dead.span
                ranges.setdefault((gateway_id, device_id), []).append((lo, hi))
        async with conn.transaction():
            observations = [o for _e, obs, _s in accepted for o in obs]
            segments = [s for _e, _o, segs in accepted for s in segs]
            if observations:
                written = await self.writer.write_readings(conn, observations)
                result.readings_inserted = written.inserted
                result.readings_duplicate = written.duplicates
            if segments:
                written = await self.writer.write_segments(conn, segments)
                result.segments_inserted = written.inserted
                result.segments_duplicate = written.duplicates
            for (gateway_id, device_id), spans in sorted(ranges.items()):
                await watermarks.record(conn, gateway_id, device_id, spans)
            for gateway_id in sorted({g for g, _d in ranges}):
                result.watermarks[gateway_id] = await watermarks.for_gateway(conn, gateway_id)
        return result
