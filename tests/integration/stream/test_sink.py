"""The sink's core against the real database: idempotent envelopes, dead letters with
reasons, and watermarks that only move over contiguous stored ranges."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import msgspec
import psycopg
import pytest

from deploy.bench.seed import STUDY, seed_study
from storage import registry
from stream.contract.envelope import Envelope, WireReading, WireSegment, decode, encode
from stream.sink import Sink
from stream.validation.enrollment import EnrollmentIndex
from tests.fixtures.postgres import writer_for

pytestmark = pytest.mark.integration

# A week ago at 08:00: inside the worker's time window (400 days back, 1 ahead) on any
# day the suite runs.
T0 = (datetime.now(UTC) - timedelta(days=7)).replace(hour=8, minute=0, second=0,
                                                       microsecond=0)


def envelope(seq_from: int, count: int, *, device: str = "D-1", value: float = 70.0,
             batch_id: str | None = None) -> bytes:
    readings = [WireReading(seq=seq_from + i, metric="heart_rate", value=value, unit="/min",
                            time=T0 + timedelta(seconds=seq_from + i),
                            received_at=T0 + timedelta(seconds=seq_from + i))
                for i in range(count)]
    return encode(Envelope(batch_id=batch_id or str(uuid.uuid4()), gateway_id="GW-1",
                           device_id=device, device_type="smartwatch", subject="S-1",
                           seq_from=seq_from, seq_to=seq_from + count - 1, sent_at=T0,
                           readings=readings))


async def rows(db: psycopg.AsyncConnection[object]) -> int:
    return (await (await db.execute("SELECT count(*) FROM readings")).fetchone())[0]  # type: ignore[index]


async def test_envelopes_are_stored_once_and_watermarks_advance(
    db: psycopg.AsyncConnection[object],
) -> None:
    sink = Sink(await writer_for(db))
    first, second = envelope(0, 10), envelope(10, 10)
    result = await sink.persist(db, [first, second])
    assert (result.envelopes, result.readings_inserted, result.dead_letters) == (2, 20, [])
    assert result.watermarks == {"GW-1": {"D-1": 19}}
    again = await sink.persist(db, [second, first])  # re-sent / re-consumed
    # Under the persisted watermark: skipped before any write, watermark re-published.
    assert (again.duplicate_batches, again.readings_inserted, again.envelopes) == (2, 0, 0)
    assert again.watermarks == {"GW-1": {"D-1": 19}}
    assert await rows(db) == 20


async def test_a_gap_holds_the_watermark_until_the_missing_batch_arrives(
    db: psycopg.AsyncConnection[object],
) -> None:
    sink = Sink(await writer_for(db))
    assert (await sink.persist(db, [envelope(0, 5)])).watermarks["GW-1"]["D-1"] == 4
    assert (await sink.persist(db, [envelope(10, 5)])).watermarks["GW-1"]["D-1"] == 4
    assert (await sink.persist(db, [envelope(5, 5)])).watermarks["GW-1"]["D-1"] == 14
    assert await rows(db) == 15


@pytest.mark.both_storage_modes
async def test_a_device_record_read_again_under_another_time_is_not_stored_twice(
    db: psycopg.AsyncConnection[object],
) -> None:
    """A replaced hub backfills the CGM's whole store: its fresh clock estimate stamps the
    same records 1.5 s (or, for an unset device clock, hours) off the stored copies. The
    record number says it is the same record: stored once (seen in eval chaos)."""
    sink = Sink(await writer_for(db))

    def cgm(gateway: str, seq_from: int, shift_s: float, records: range) -> bytes:
        readings = [WireReading(seq=r, metric="glucose", value=100.0 + r, unit="mg/dL",
                                time=T0 + timedelta(minutes=5 * r, seconds=shift_s),
                                received_at=T0 + timedelta(minutes=5 * r, seconds=shift_s),
                                record=r) for r in records]
        return encode(Envelope(batch_id=str(uuid.uuid4()), gateway_id=gateway,
                               device_id="C-1", device_type="cgm", subject="S-1",
                               seq_from=seq_from, seq_to=seq_from + len(records) - 1,
                               sent_at=T0, readings=readings))
    first = await sink.persist(db, [cgm("GW-1", 0, 0.0, range(0, 6))])
    assert first.readings_inserted == 6
    again = await sink.persist(db, [cgm("GW-1", 1000, 1.5, range(3, 9)),  # 3 new: 6, 7, 8
                                    cgm("GW-1", 2000, -7200.0, range(0, 2))])
    assert (again.readings_inserted, again.readings_duplicate) == (3, 5)
    assert await rows(db) == 9


async def test_bad_envelopes_become_dead_letters_with_reasons(
    db: psycopg.AsyncConnection[object],
) -> None:
    sink = Sink(await writer_for(db))
    bad_json = b"{not json"
    wrong = json.loads(envelope(0, 1))
    wrong["schema_version"] = 2
    impossible = envelope(1, 1, value=900.0)
    good = envelope(2, 3)
    seg = encode(Envelope(batch_id="b", gateway_id="GW-1", device_id="D-2",
                          device_type="ecg_patch", subject="S-1", seq_from=0, seq_to=0,
                          sent_at=T0, segments=[WireSegment(
                              seq=0, lead="I", time=T0, sampling_rate_hz=130.0,
                              samples=[1.0, 2.0], received_at=T0)]))
    result = await sink.persist(db, [bad_json, json.dumps(wrong).encode(), impossible, good,
                                     seg])
    assert [d.reason for d in result.dead_letters] == [
        "invalid_envelope", "unsupported_schema", "invalid_reading"]
    assert "heart_rate value 900.0 /min is outside the possible range" in \
        result.dead_letters[2].detail
    assert (result.envelopes, result.readings_inserted, result.segments_inserted) == (2, 3, 1)
    assert result.watermarks == {"GW-1": {"D-1": 4, "D-2": 0}}


async def test_enrollment_decides_which_envelopes_are_stored(
    db: psycopg.AsyncConnection[object],
) -> None:
    await seed_study(db, subjects=1, start=T0)
    sink = Sink(await writer_for(db), EnrollmentIndex(max_age_s=0.0))
    enrolled = envelope(0, 3, device="D-1")
    unknown_device = envelope(0, 3, device="D-9")
    before_enrollment = encode(msgspec.structs.replace(
        decode(envelope(3, 1, device="D-1")), readings=[WireReading(
            seq=3, metric="heart_rate", value=70, unit="/min", time=T0 - timedelta(hours=1),
            received_at=T0)]))
    result = await sink.persist(db, [enrolled, unknown_device, before_enrollment])
    assert result.readings_inserted == 3
    hour_before = (T0 - timedelta(hours=1)).isoformat()
    assert [(d.reason, d.detail) for d in result.dead_letters] == [
        ("not_enrolled", "device is not enrolled"),
        ("not_enrolled", f"no enrollment of the device covers {hour_before}..{hour_before}")]
    # Dead-lettered but readable: the range is handled, the gateway may drop it.
    assert result.watermarks["GW-1"] == {"D-1": 3, "D-9": 2}

    # Enrolled after the first attempt: the index reloads on the miss and stores it.
    await registry.create_device(db, STUDY, "D-9", "smartwatch")
    await registry.enroll(db, study=STUDY, subject="S-1", device_id="D-9", gateway_id="GW-1",
                          start=T0)
    later = await sink.persist(db, [envelope(3, 2, device="D-9")])
    assert (later.readings_inserted, later.dead_letters) == (2, [])


async def test_another_subject_or_gateway_is_refused(db: psycopg.AsyncConnection[object]) -> None:
    await seed_study(db, subjects=2, start=T0)
    sink = Sink(await writer_for(db), EnrollmentIndex())
    # D-2 belongs to S-2 through GW-2; this envelope claims S-1 through GW-1.
    result = await sink.persist(db, [envelope(0, 2, device="D-2")])
    assert [d.reason for d in result.dead_letters] == ["not_enrolled"]
    assert "another subject" in result.dead_letters[0].detail
    assert result.readings_inserted == 0


async def test_implausible_readings_are_dead_lettered_and_the_rest_stored(
    db: psycopg.AsyncConnection[object],
) -> None:
    sink = Sink(await writer_for(db))
    env = decode(envelope(0, 4))
    bad = msgspec.structs.replace(env.readings[2], value=310.0)  # storable, not plausible
    value = encode(msgspec.structs.replace(env, readings=[*env.readings[:2], bad,
                                                          env.readings[3]]))
    result = await sink.persist(db, [value, value])  # the second copy: same batch id
    assert (result.readings_inserted, result.duplicate_batches) == (3, 1)
    [dead] = result.dead_letters
    assert dead.reason == "implausible_value"
    assert dead.detail == "heart_rate 310 outside the plausible range 20..250"
    assert [r.value for r in decode(dead.value).readings] == [310.0]
    assert dead.key == b"S-1"
    assert result.watermarks == {"GW-1": {"D-1": 3}}


async def test_tombstones_and_times_outside_the_window_are_dead_lettered_with_their_key(
    db: psycopg.AsyncConnection[object],
) -> None:
    """A Kafka tombstone (no value) once crashed the worker; a reading 200 days ahead once
    created 193 daily partitions. Both are dead-lettered alone, under the record's own key,
    and the good envelope beside them is stored."""
    sink = Sink(await writer_for(db), clock=lambda: T0)
    ahead = encode(msgspec.structs.replace(decode(envelope(5, 1)), readings=[WireReading(
        seq=5, metric="heart_rate", value=70, unit="/min", time=T0 + timedelta(days=200),
        received_at=T0)]))
    old = encode(msgspec.structs.replace(decode(envelope(6, 1)), sent_at=T0 - timedelta(days=401)))
    result = await sink.persist(db, [None, ahead, envelope(0, 5), old, b""],
                                [b"S-7", b"S-1", b"S-1", b"S-1", None])
    assert [(d.reason, d.key) for d in result.dead_letters] == [
        ("invalid_envelope", b"S-7"), ("implausible_time", b"S-1"),
        ("implausible_time", b"S-1"), ("invalid_envelope", None)]
    ahead_at = (T0 + timedelta(days=200)).isoformat()
    assert f"readings[0].time {ahead_at} is more than 1 day(s) ahead" in \
        result.dead_letters[1].detail
    assert "sent_at" in result.dead_letters[2].detail
    assert await rows(db) == 5
    # The dead-lettered ranges count as handled: the gateway stops re-sending them.
    assert result.watermarks == {"GW-1": {"D-1": 6}}


async def test_reject_dead_letters_one_refused_envelope_and_passes_its_range(
    db: psycopg.AsyncConnection[object],
) -> None:
    sink = Sink(await writer_for(db))
    result = await sink.reject(db, envelope(0, 3), b"S-1", "value out of range")
    assert [(d.reason, d.key, d.detail) for d in result.dead_letters] == [
        ("storage_rejected", b"S-1", "value out of range")]
    assert result.watermarks == {"GW-1": {"D-1": 2}}
    unreadable = await sink.reject(db, b"{oops", None, "boom")
    assert unreadable.dead_letters[0].span is None and unreadable.watermarks == {}


async def test_an_invalid_envelope_with_a_readable_header_passes_its_range(
    db: psycopg.AsyncConnection[object],
) -> None:
    """Seen under CPU overload: a gateway sent clock drift -1e6 ppm, out of the contract.
    The envelope is dead-lettered; its header (gateway, device, range) is readable, so
    the range counts as handled and the gateway stops re-sending it for ever."""
    sink = Sink(await writer_for(db))
    body = json.loads(envelope(0, 2))
    body["clock"] = {"offset_ms": 0.0, "drift_ppm": -2e6}
    result = await sink.persist(db, [json.dumps(body).encode(), envelope(2, 2)])
    assert [(d.reason, d.span) for d in result.dead_letters] == [
        ("invalid_envelope", ("GW-1", "D-1", 0, 1))]
    assert "drift_ppm" in result.dead_letters[0].detail
    assert result.watermarks == {"GW-1": {"D-1": 3}}
    assert await rows(db) == 2
