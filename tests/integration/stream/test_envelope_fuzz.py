"""Fuzzing the running worker with hostile envelopes (hypothesis): thousands of records,
each a valid envelope with some fields replaced by what a broken or hostile gateway could
send (integers past their columns, NaN and Infinity, NUL and control characters, times
far from now, unenrolled codes), or garbage bytes, or a tombstone.

What must hold after every batch: the worker is alive; every record is either stored or
dead-lettered under its own key (an envelope with implausible values is both: the rest
is stored); the consumer group's committed offsets reach the end of the topic.
"""

from __future__ import annotations

import itertools
import json
import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from deploy.bench.stream_rig import StreamRig
from tests.integration.stream.worker_harness import T0, hr_envelope, scalar, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXAMPLES = 10  # batches of 150..250 records: about 2,000 records per run
_numbers = itertools.count()

huge_ints = st.one_of(st.integers(min_value=-(2**70), max_value=2**70),
                      st.sampled_from([-1, 2**31 - 1, 2**31, 2**63 - 1, 2**63, 2**64]))
wild_floats = st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                        st.sampled_from([0.0, -0.0, 1e300, -1e300, 3.5e38, 251.0, 19.0]))
wild_text = st.one_of(st.text(max_size=80),
                      st.sampled_from(["", "heart\x00rate", "x" * 65, "\x7f", "/min", "W-9"]))
seconds_away = st.one_of(st.integers(min_value=-(10**10), max_value=10**10),
                         st.sampled_from([-401 * 86400, 2 * 86400, 200 * 86400]))

READING_FIELDS = {"seq": huge_ints, "value": wild_floats, "quality": huge_ints,
                  "metric": wild_text, "unit": wild_text, "specimen": wild_text,
                  "record": huge_ints}
# A sequence range or batch id that is valid but not the record's own would make it a
# duplicate of another record (skipped as already stored, by contract): only invalid ones.
bad_ints = st.one_of(st.integers(max_value=-1), st.integers(min_value=2**63))
bad_codes = st.one_of(st.text(max_size=80).filter(
                          lambda t: re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}", t) is None),
                      st.sampled_from(["", "a\x00b", "x" * 65]))
ENVELOPE_FIELDS = {"seq_from": bad_ints, "seq_to": bad_ints, "device_type": wild_text,
                   "batch_id": bad_codes, "subject": wild_text, "device_id": wild_text,
                   "gateway_id": wild_text, "schema_version": huge_ints}


@st.composite
def records(draw: st.DrawFn) -> bytes | None:
    """One Kafka value: mostly a mutated envelope, sometimes valid, garbage or nothing."""
    shape = draw(st.sampled_from(["valid", "envelope", "envelope", "envelope", "reading",
                                  "reading", "time", "clock", "garbage", "tombstone"]))
    if shape == "tombstone":
        return None
    if shape == "garbage":
        return draw(st.binary(max_size=200))
    n = next(_numbers)
    seq_from = 10 + n * 10  # each record its own range: outcomes never collide
    count = draw(st.integers(min_value=1, max_value=5))
    body: dict[str, Any] = json.loads(hr_envelope(seq_from, [70.0 + n % 7] * count))
    if shape == "envelope":
        field = draw(st.sampled_from(sorted(ENVELOPE_FIELDS)))
        body[field] = draw(ENVELOPE_FIELDS[field])
    elif shape == "reading":
        field = draw(st.sampled_from(sorted(READING_FIELDS)))
        index = draw(st.integers(min_value=0, max_value=count - 1))
        body["readings"][index][field] = draw(READING_FIELDS[field])
    elif shape == "time":
        field = draw(st.sampled_from(["time", "received_at", "sent_at"]))
        try:
            stamp = (T0 + timedelta(seconds=seq_from + draw(seconds_away))).isoformat()
        except OverflowError:  # beyond datetime's years 1..9999
            stamp = "99999-01-01T00:00:00Z"
        if field == "sent_at":
            body["sent_at"] = stamp
        else:
            body["readings"][0][field] = stamp
    elif shape == "clock":
        body["clock"] = {"offset_ms": draw(wild_floats), "drift_ppm": draw(wild_floats),
                         "samples": draw(huge_ints)}
    return json.dumps(body, allow_nan=True).encode()


async def _stored_times(rig: StreamRig) -> set[float]:
    rows = await scalar(rig.dsn, "SELECT coalesce(array_agg(extract(epoch FROM time)::float8),"
                                 " '{}') FROM readings")
    return set(rows)


def _times(value: bytes | None) -> set[float]:
    """The measured times of a record's readings (each record has times of its own)."""
    try:
        body = json.loads(value or b"")
        return {datetime.fromisoformat(r["time"]).timestamp() for r in body["readings"]}
    except (ValueError, KeyError, TypeError, AttributeError):
        return set()


@settings(max_examples=EXAMPLES, deadline=None, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large, HealthCheck.large_base_example])
@given(batch=st.lists(records(), min_size=150, max_size=250))
@pytest.mark.timeout(1200)
async def test_every_hostile_record_is_stored_or_dead_lettered_and_the_worker_lives(
        rig: StreamRig, batch: list[bytes | None]) -> None:
    if not rig.workers:
        rig.start_worker()
    tag = next(_numbers)
    keys = [f"fz-{tag}-{i}".encode() for i in range(len(batch))]
    for key, value in zip(keys, batch, strict=True):
        await rig.produce([value], key=key)

    dead: dict[bytes, list[str]] = {}
    stored: set[float] = set()

    async def handled() -> bool:
        if await rig.uncommitted() != 0:
            return False
        dead.clear()
        for record in await rig.read(rig.kafka.topics.dead_letter, timeout=5):
            dead.setdefault(record.key, []).append(dict(record.headers)["reason"].decode())
        stored.clear()
        stored.update(await _stored_times(rig))
        return all(key in dead or _times(value) & stored
                   for key, value in zip(keys, batch, strict=True))
    await wait_for(handled, timeout=300, what=f"{len(batch)} hostile records handled", rig=rig)
    assert not rig.crashed()
    for key, value in zip(keys, batch, strict=True):
        reasons = dead.get(key, [])
        assert len(reasons) <= 1, (key, reasons)  # dead-lettered once, with one reason
        if not reasons:  # not dead-lettered: stored whole, not in part
            assert _times(value) <= stored, (key, value)
