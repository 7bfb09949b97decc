"""``trialwire stream worker`` end to end: real broker, real PostgreSQL, worker processes."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from deploy.bench.stream_rig import StreamRig, create_topics
from deploy.services.broker import EmbeddedBroker
from stream.agents.crash import EXIT_AGENT_CRASHED
from stream.app import EXIT_STALLED
from stream.kafka.settings import KafkaSettings
from tests.integration.stream.worker_harness import (
    T0,
    hr_envelope,
    scalar,
    supervise_until,
    wait_for,
)

pytestmark = pytest.mark.integration


async def readings(dsn: str) -> int:
    return int(await scalar(dsn, "SELECT count(*) FROM readings"))


@pytest.mark.both_storage_modes  # the worker's sink on TimescaleDB too
async def test_valid_duplicate_out_of_order_late_and_malformed_envelopes(rig: StreamRig) -> None:
    rig.start_worker()
    first = hr_envelope(0, [70.0] * 10)
    values = [
        first, first,  # a duplicate on the wire
        hr_envelope(20, [71.0] * 10),  # out of order: 10..19 comes later
        hr_envelope(10, [72.0] * 10),
        hr_envelope(0, [73.0] * 5, device="W-2", subject="S-2", gateway="GW-2"),
        b'{"schema_version": 1, "batch_id": "x"}',  # malformed
        hr_envelope(30, [300.0, 70.0]),  # one implausible value
        hr_envelope(0, [70.0] * 3, device="W-9"),  # not enrolled
    ]
    await rig.produce(values[:5])
    await rig.produce(values[5:6], key=b"S-2")
    await rig.produce(values[6:])

    async def stored() -> bool:
        return await readings(rig.dsn) == 36
    await wait_for(stored, timeout=90, what="36 readings stored", rig=rig)
    # Late: reading 32 measured 30 s before the readings already stored (event time).
    await rig.produce([hr_envelope(32, [69.0], start=T0 - timedelta(seconds=30))])

    async def late_stored() -> bool:
        return await readings(rig.dsn) == 37
    await wait_for(late_stored, timeout=60, what="the late reading stored", rig=rig)
    dead = await rig.read(rig.kafka.topics.dead_letter, minimum=3)
    reasons = sorted(dict(r.headers)["reason"].decode() for r in dead)
    assert reasons == ["implausible_value", "invalid_envelope", "not_enrolled"]
    marks = await rig.read(rig.kafka.topics.watermarks, minimum=1)
    latest = {}
    for record in marks:
        body = json.loads(record.value)
        latest.setdefault(body["gateway_id"], {}).update(body["devices"])
    assert latest["GW-1"] == {"W-1": 32, "W-9": 2}
    assert latest["GW-2"] == {"W-2": 4}
    flags = await scalar(rig.dsn, "SELECT array_agg(rule_id) FROM flags")
    assert flags == ["impossible_value"]


def _raw_envelope(**patch: object) -> bytes:
    """A valid envelope's JSON with fields replaced as raw JSON (values the encoder would
    never write: out-of-range integers, NUL characters)."""
    body = json.loads(hr_envelope(900, [70.0], device="W-2", subject="S-2", gateway="GW-2"))
    body.update(patch)
    return json.dumps(body).encode()


@pytest.mark.both_storage_modes  # the worker's sink on TimescaleDB too
async def test_poison_records_are_dead_lettered_alone_and_offsets_pass_only_handled_data(
        rig: StreamRig) -> None:
    """Hostile records mixed with good ones of two subjects: each bad one is dead-lettered
    alone with its reason and original key, every good one is stored, the worker stays up,
    and the committed offsets end where everything is handled. The database refuses one
    envelope that passes every check (a constraint this test adds), so the batch holding
    it is split until that envelope is alone."""
    async with await psycopg.AsyncConnection.connect(rig.dsn, autocommit=True) as conn:
        await conn.execute("ALTER TABLE readings ADD CONSTRAINT test_refuses_poison"
                           " CHECK (specimen IS DISTINCT FROM 'poison')")
    refused = json.loads(hr_envelope(500, [70.0, 71.0]))
    for reading in refused["readings"]:
        reading["specimen"] = "poison"
    rig.start_worker()
    await rig.produce([hr_envelope(0, [70.0] * 10), None, json.dumps(refused).encode(),
                       hr_envelope(10, [72.0] * 10)], key=b"S-1")
    await rig.produce([hr_envelope(0, [65.0] * 5, device="W-2", subject="S-2", gateway="GW-2"),
                       _raw_envelope(seq_to=2**63),  # once: NumericValueOutOfRange, worker down
                       _raw_envelope(device_type="smart\u0000watch"),
                       hr_envelope(5, [66.0] * 5, device="W-2", subject="S-2", gateway="GW-2")],
                      key=b"S-2")

    async def handled() -> bool:
        return await readings(rig.dsn) == 30 and await rig.uncommitted() == 0
    await wait_for(handled, timeout=120, what="30 readings stored and every offset committed",
                   rig=rig)
    dead = await rig.read(rig.kafka.topics.dead_letter, minimum=4)
    got = sorted((dict(r.headers)["reason"].decode(), r.key) for r in dead)
    assert got == [("invalid_envelope", b"S-1"), ("invalid_envelope", b"S-2"),
                   ("invalid_envelope", b"S-2"), ("storage_rejected", b"S-1")]
    assert not rig.crashed()
    assert await scalar(rig.dsn, "SELECT count(*) FROM readings WHERE specimen = 'poison'") == 0


async def test_a_crashed_agent_ends_the_worker_and_a_fresh_one_stores_everything(
        rig: StreamRig) -> None:
    """An error that blames no record (here the readings table is gone) crashes the
    pipeline agent. Faust used to keep the worker running without it, idle; now the
    worker exits 70 with the batch's offsets uncommitted, and a fresh worker stores it."""
    async with await psycopg.AsyncConnection.connect(rig.dsn, autocommit=True) as conn:
        await conn.execute("ALTER TABLE readings RENAME TO readings_away")
    worker = rig.start_worker()
    await rig.produce([hr_envelope(0, [70.0] * 10)])
    worker.wait(timeout=120)
    assert worker.returncode == EXIT_AGENT_CRASHED, rig.log("w1")[-2000:]
    assert "agent pipeline crashed" in rig.log("w1")
    assert await rig.uncommitted() == 1
    rig.stopped.append(worker)
    async with await psycopg.AsyncConnection.connect(rig.dsn, autocommit=True) as conn:
        await conn.execute("ALTER TABLE readings_away RENAME TO readings")
    rig.start_worker("w2")

    async def stored() -> bool:
        return await readings(rig.dsn) == 10 and await rig.uncommitted() == 0
    await wait_for(stored, timeout=120, what="the batch stored by the fresh worker", rig=rig)


async def test_a_stalled_partition_ends_the_worker_and_a_fresh_one_resumes_it(
        rig: StreamRig, monkeypatch: pytest.MonkeyPatch) -> None:
    """A locked table holds the worker's batch for ever (no error to retry): records wait
    and the committed offset does not move. After stall_restart_s the worker exits 75 for
    its supervisor, and a fresh worker stores everything once the lock is gone."""
    monkeypatch.setenv("TRIALWIRE_STREAM_STALL_RESTART_S", "10")
    worker = rig.start_worker()
    await rig.produce([hr_envelope(0, [70.0] * 10)])
    await wait_for(lambda: _count_is(rig.dsn, 10), timeout=120, what="the first batch",
                   rig=rig)
    async with await psycopg.AsyncConnection.connect(rig.dsn) as locker:
        await locker.execute("LOCK TABLE readings IN ACCESS EXCLUSIVE MODE")
        await rig.produce([hr_envelope(10, [71.0] * 10)])
        code = await asyncio.to_thread(worker.wait, 120)
        assert code == EXIT_STALLED, rig.log("w1")[-2000:]
        assert "no progress for" in rig.log("w1")
        await locker.rollback()
    # What the monitoring page showed (the overview's "pipeline"): the stall, as reported.
    assert await scalar(rig.dsn, "SELECT max(stalled_s) FROM stream_partitions") >= 10
    rig.stopped.append(worker)
    rig.start_worker("w2")

    async def stored() -> bool:
        return await readings(rig.dsn) == 20 and await rig.uncommitted() == 0
    await wait_for(stored, timeout=120, what="the held batch stored by a fresh worker",
                   rig=rig)


async def test_a_ghost_commit_past_the_log_end_is_rewound_and_nothing_is_skipped(
        rig: StreamRig) -> None:
    """A broker that restarted empty can receive the old worker's last commit (offset 1000)
    into a log that holds 10 records. A fresh worker starting there would skip every record
    below 1000 (the embedded broker does not answer out-of-range); it rewinds the ghost
    commit to the log start first and stores them all."""
    await rig.produce([hr_envelope(i * 2, [70.0, 71.0]) for i in range(5)])
    consumer = AIOKafkaConsumer(**rig.kafka.consumer_config(group_id=rig.app_id))
    await consumer.start()
    try:
        await consumer.topics()
        tps = [TopicPartition(t, p) for t in (rig.kafka.topics.raw_readings,
                                              rig.kafka.topics.status)
               for p in consumer.partitions_for_topic(t) or ()]
        consumer.assign(tps)
        await consumer.commit({tp: OffsetAndMetadata(1000, "") for tp in tps})
    finally:
        await consumer.stop()
    rig.start_worker()
    await wait_for(lambda: _count_is(rig.dsn, 10), timeout=120,
                   what="the records below the ghost commit stored", rig=rig)
    assert "a broker that lost its data" in rig.log("w1")


async def test_a_loss_report_passes_the_watermark_and_raises_a_flag(rig: StreamRig) -> None:
    """A gateway whose spool dropped seq 10..19 over its disk budget reports the range in
    place of the data: nothing is stored for it, the watermark passes it (the gateway's
    later data is not held back for ever), and a data_dropped flag says what was lost."""
    from stream.contract.envelope import DroppedData, Envelope, encode
    report = encode(Envelope(
        batch_id="loss-1", gateway_id="GW-1", device_id="W-1", device_type="smartwatch",
        subject="S-1", seq_from=10, seq_to=19, sent_at=T0 + timedelta(seconds=40),
        dropped=DroppedData(items=10, first=T0 + timedelta(seconds=10),
                            last=T0 + timedelta(seconds=19))))
    rig.start_worker()
    await rig.produce([hr_envelope(0, [70.0] * 10), report, hr_envelope(20, [72.0] * 10)])

    async def through() -> bool:
        return await scalar(rig.dsn, "SELECT persisted_through FROM gateway_watermarks"
                                     " WHERE device_id = 'W-1'") == 29
    await wait_for(through, timeout=120, what="the watermark past the reported range",
                   rig=rig)
    assert await readings(rig.dsn) == 20
    # (The seeded devices that never send raise device_never_seen beside it.)
    flag = await scalar(rig.dsn, "SELECT array[rule_id, severity, details->>'items']"
                                 " FROM flags WHERE rule_id <> 'device_never_seen'")
    assert flag == ["data_dropped", "high", "10"]
    assert await scalar(rig.dsn, "SELECT window_start FROM flags"
                                 " WHERE rule_id = 'data_dropped'") == T0 + timedelta(seconds=10)
    marks = await rig.read(rig.kafka.topics.watermarks, minimum=1)
    assert any(b'"W-1":29' in m.value for m in marks)


async def test_a_replaced_hub_is_stored_and_its_watermark_closes_the_gap(
        rig: StreamRig) -> None:
    """A hub replaced under the same gateway id starts a new spool, numbered from a base
    far above the old one's (gateway/spool.py). Its data must be stored (the issue: a new
    spool from 0 was dropped as duplicates of old ranges, and the gateway then deleted
    it), and its first batch closes the gap below it so the watermark reaches it."""
    base = 1_800_000_000 << 24

    def renumbered(envelope: bytes, seq_from: int, **extra: object) -> bytes:
        body = json.loads(envelope)
        body.update(seq_from=seq_from, seq_to=seq_from + len(body["readings"]) - 1, **extra)
        for i, reading in enumerate(body["readings"]):
            reading["seq"] = seq_from + i
        return json.dumps(body).encode()
    old = hr_envelope(0, [70.0] * 10)
    first = renumbered(hr_envelope(100, [71.0] * 10), base, starts_spool=True)
    second = renumbered(hr_envelope(200, [72.0] * 10), base + 10)
    rig.start_worker()
    await rig.produce([old, first, second])

    async def through() -> bool:
        return await scalar(rig.dsn, "SELECT persisted_through FROM gateway_watermarks"
                                     " WHERE device_id = 'W-1'") == base + 19
    await wait_for(through, timeout=120, what="the watermark at the new spool's end", rig=rig)
    assert await readings(rig.dsn) == 30
    assert await scalar(rig.dsn, "SELECT pending FROM gateway_watermarks"
                                 " WHERE device_id = 'W-1'") == []


async def _count_is(dsn: str, n: int) -> bool:
    return await readings(dsn) == n


@pytest.mark.timeout(600)  # the restart re-reads 6,000 readings; a busy CI box is slow
async def test_worker_sigkilled_mid_stream_loses_and_doubles_nothing(
        rig: StreamRig, monkeypatch: pytest.MonkeyPatch) -> None:
    """SIGKILL while a bulk stream flows and a tachycardia run is half-way: after the
    restart every reading is stored once, and the run is completed from the rule state the
    restarted worker recovered from the table's changelog (the run is too short to be
    flagged from either half alone)."""
    worker = rig.start_worker()
    # S-1: 30 s normal, then 40 s at 130/min before the kill ...
    await rig.produce([hr_envelope(0, [70.0] * 30), hr_envelope(30, [130.0] * 40)])
    bulk = [hr_envelope(i * 50, [60.0 + i % 5] * 50, device="W-2", subject="S-2",
                        gateway="GW-2") for i in range(120)]
    await rig.produce(bulk[:40], key=b"S-2")

    async def first_part() -> bool:
        return await scalar(rig.dsn, "SELECT count(*) FROM readings WHERE subject_code = 'S-1'") == 70
    await wait_for(first_part, timeout=90, what="S-1's first 70 readings", rig=rig)
    await rig.produce(bulk[40:80], key=b"S-2")
    rig.kill(worker)  # mid-stream: part of the bulk is in flight
    # ... and 40 s more at 130/min after it: 80 s in all, over the 60 s the rule needs.
    await rig.produce([hr_envelope(70, [130.0] * 40), hr_envelope(110, [70.0] * 5)])
    await rig.produce(bulk[80:], key=b"S-2")
    # On a busy machine the restarted worker was once seen ready with every partition and
    # then consuming nothing; the stall watch ends such a worker for its supervisor.
    monkeypatch.setenv("TRIALWIRE_STREAM_STALL_RESTART_S", "45")
    rig.start_worker("w2")

    async def everything() -> bool:
        return await readings(rig.dsn) == 115 + 120 * 50
    await supervise_until(everything, rig=rig, timeout=400, what="every reading stored",
                          restart_code=EXIT_STALLED)
    doubled = await scalar(rig.dsn, "SELECT count(*) - count(DISTINCT (device_id, metric, time, seq))"
                                    " FROM readings")
    assert doubled == 0

    async def flagged() -> bool:
        return await scalar(rig.dsn, "SELECT count(*) FROM flags WHERE rule_id = 'hr_tachycardia'") == 1
    await wait_for(flagged, timeout=30, what="the tachycardia flag", rig=rig)
    onset = await scalar(rig.dsn, "SELECT window_start FROM flags WHERE rule_id = 'hr_tachycardia'")
    assert onset == T0 + timedelta(seconds=30)
    assert "Recovery" in rig.log("w2")  # (a restarted w2 recovered the state first)


async def test_database_unavailable_for_a_minute_then_caught_up(rig: StreamRig) -> None:
    """New connections are refused for 60 s (ALLOW_CONNECTIONS false + open sessions
    terminated, so the shared test server keeps serving other databases): the worker
    waits and retries, nothing is acknowledged meanwhile, then it catches up."""
    rig.start_worker()
    await rig.produce([hr_envelope(0, [70.0] * 10)])

    async def first() -> bool:
        return await readings(rig.dsn) == 10
    await wait_for(first, timeout=90, what="the first batch", rig=rig)
    dbname = psycopg.conninfo.conninfo_to_dict(rig.dsn)["dbname"]
    admin = psycopg.conninfo.make_conninfo(rig.dsn, dbname="postgres")
    async with await psycopg.AsyncConnection.connect(admin, autocommit=True) as conn:
        await conn.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS false')
        await conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                           " WHERE datname = %s", (dbname,))
        await rig.produce([hr_envelope(10 + i * 10, [71.0] * 10) for i in range(20)])
        await asyncio.sleep(60)
        await conn.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS true')
    assert "database unavailable" in rig.log()

    async def caught_up() -> bool:
        return await readings(rig.dsn) == 210
    await wait_for(caught_up, timeout=60, what="catching up after the outage", rig=rig)
    marks = await rig.read(rig.kafka.topics.watermarks, minimum=1)
    assert max(json.loads(r.value)["devices"]["W-1"] for r in marks) == 209


async def test_two_workers_share_partitions_and_survive_a_rebalance(
        rig: StreamRig, monkeypatch: pytest.MonkeyPatch) -> None:
    subjects = [f"S-{i}" for i in (1, 2)]
    # A CI-mirror run saw w2 take every partition after w1 left, say "Worker ready", and
    # consume nothing (as after a SIGKILL: test_worker_sigkilled_mid_stream...). The stall
    # watch ends such a worker for its supervisor; here the test is the supervisor.
    monkeypatch.setenv("TRIALWIRE_STREAM_STALL_RESTART_S", "45")
    w1 = rig.start_worker("w1")

    def batch(subject: str, seq: int) -> bytes:
        n = subject.split("-")[1]
        return hr_envelope(seq, [70.0] * 10, device=f"W-{n}", subject=subject,
                           gateway=f"GW-{n}")

    for subject in subjects:
        await rig.produce([batch(subject, 0)], key=subject.encode())

    async def started() -> bool:
        return await readings(rig.dsn) == 20
    await wait_for(started, timeout=90, what="the first batches", rig=rig)
    rig.start_worker("w2")  # joins: the group rebalances over the two partitions

    # Both settled in the shared generation: w2 ready with raw partitions, and w1 ready a
    # second time (after the rebalance w2's joining caused). Stopping a worker while it is
    # still recovering is a different case (see the stream issue's notes).
    async def shared() -> bool:
        return ("raw.v1', partition=" in rig.log("w2") and "Worker ready" in rig.log("w2")
                and rig.log("w1").count("Worker ready") >= 2)
    await wait_for(shared, timeout=90, what="both workers sharing the partitions", rig=rig)
    for seq in range(10, 200, 10):
        for subject in subjects:
            await rig.produce([batch(subject, seq)], key=subject.encode())
    rig.kill(w1, signal.SIGTERM)  # leaves: everything moves to w2
    for seq in range(200, 300, 10):
        for subject in subjects:
            await rig.produce([batch(subject, seq)], key=subject.encode())

    async def complete() -> bool:
        return await readings(rig.dsn) == 600
    await supervise_until(complete, rig=rig, timeout=300, what="all 600 readings",
                          restart_code=EXIT_STALLED)
    assert await scalar(rig.dsn, "SELECT count(DISTINCT (device_id, seq)) FROM readings") == 600


async def test_gateway_status_feeds_heartbeats_quality_flags_and_completeness(
    rig: StreamRig,
) -> None:
    from stream.contract import status as status_codec

    rig.start_worker()
    await rig.produce([hr_envelope(0, [70.0] * 60)])  # minute 0 of the hour has data

    def status(minute: int, *, last_reading_min: float, offset_ms: float) -> bytes:
        return status_codec.encode(status_codec.GatewayStatus(
            gateway_id="GW-1", subject="S-1", at=T0 + timedelta(minutes=minute),
            devices=[status_codec.DeviceStatus(
                device_id="W-1", device_type="smartwatch", connected=True,
                last_reading_at=T0 + timedelta(minutes=last_reading_min),
                clock_offset_ms=offset_ms, clock_drift_ppm=3.0)],
            spool=status_codec.SpoolStatus(), upload=status_codec.UploadStatus(
                broker_reachable=True)))

    # The watch stops after minute 1; the gateway keeps reporting every minute until 30,
    # and its clock estimate for the watch jumps to 10 minutes off from minute 20.
    statuses: list[bytes | None] = [
        status(m, last_reading_min=min(m, 1), offset_ms=600_000 if m >= 20 else 50)
        for m in range(0, 31)]
    # A status that does not decode and a tombstone: dead-lettered alone, the rest handled.
    statuses[5:5] = [b'{"gateway_id": "GW-1", "at": "soon"}', None]
    await rig.produce(statuses, key=b"GW-1", topic=rig.kafka.topics.status)

    async def flagged() -> bool:
        rules = await scalar(rig.dsn, "SELECT array_agg(rule_id ORDER BY rule_id) FROM flags")
        return rules == ["clock_drift", "device_silent"]
    await wait_for(flagged, timeout=90, what="device_silent and clock_drift flags", rig=rig)
    silent_start = await scalar(
        rig.dsn, "SELECT window_start FROM flags WHERE rule_id = 'device_silent'")
    assert silent_start == T0 + timedelta(minutes=17)  # first status over 15 min of silence
    assert await scalar(rig.dsn, "SELECT count(*) FROM gateway_heartbeats") == 31
    dead = await rig.read(rig.kafka.topics.dead_letter, minimum=2)
    assert sorted((dict(r.headers)["reason"], r.key, r.value) for r in dead) == [
        (b"invalid_status", b"GW-1", b""),
        (b"invalid_status", b"GW-1", b'{"gateway_id": "GW-1", "at": "soon"}')]

    # Minute 0 has readings; minute 1 the gateway reported a reading the database lacks
    # (upload backlog); 2-30 the gateway was up and the watch silent; 31-59 no gateway.
    async def completeness() -> bool:
        row = await scalar(
            rig.dsn, "SELECT array[received, wear_minutes, device_silent_minutes,"
                     " gateway_offline_minutes, upload_backlog_minutes] FROM completeness_hourly"
                     " WHERE device_id = 'W-1' AND metric = 'heart_rate'")
        return row == [60, 1, 29, 29, 1]
    await wait_for(completeness, timeout=30, what="completeness of the hour", rig=rig)


async def test_backfilled_hypoglycaemia_is_flagged_once_as_backfill(rig: StreamRig) -> None:
    """A CGM's link drops for 30 minutes while glucose is low: live readings resume at
    normal values, then the backfill brings the low records, behind the key's event-time
    watermark. The stored readings around them are re-judged: one level-2 flag, marked
    as raised on backfilled data; re-sending the backfill raises nothing new."""
    rig.start_worker()

    def cgm(seq_from: int, minutes: list[int], value: float, *, backfilled: bool = False) -> bytes:
        return hr_envelope(seq_from, [value] * len(minutes), device="C-1", metric="glucose",
                           unit="mg/dL", step_s=300.0, backfilled=backfilled,
                           start=T0 + timedelta(minutes=minutes[0]) - timedelta(seconds=300 * seq_from))

    live_before = cgm(0, [0, 5], 100.0)
    live_after = cgm(2, [40, 45, 50], 100.0)  # 40-50 min, gateway seq 2..4
    backfill = cgm(5, [10, 15, 20, 25, 30, 35], 45.0, backfilled=True)
    await rig.produce([live_before, live_after])

    async def live() -> bool:
        return await readings(rig.dsn) == 5
    await wait_for(live, timeout=90, what="the live CGM readings", rig=rig)
    await rig.produce([backfill, backfill])

    async def flagged() -> bool:
        return await scalar(rig.dsn, "SELECT count(*) FROM flags WHERE rule_id = 'glucose_hypo_l2'") == 1
    await wait_for(flagged, timeout=60, what="the level-2 hypoglycaemia flag", rig=rig)
    raised_on = await scalar(rig.dsn, "SELECT raised_on FROM flags"
                                      " WHERE rule_id = 'glucose_hypo_l2'")
    start = await scalar(rig.dsn, "SELECT window_start FROM flags"
                                  " WHERE rule_id = 'glucose_hypo_l2'")
    assert raised_on == "backfill"
    assert start == T0 + timedelta(minutes=10)
    assert await readings(rig.dsn) == 11
    await asyncio.sleep(3)  # a second copy (re-sent) would have been judged by now
    assert await scalar(rig.dsn, "SELECT count(*) FROM flags WHERE rule_id = 'glucose_hypo_l2'") == 1


async def test_a_worker_stops_within_10_s_of_sigterm_when_the_broker_is_gone(
        migrated_dsn: str, tmp_path: Path) -> None:
    """``trialwire up`` stops the broker before it knows the worker is gone, and a closed
    terminal leaves the worker alone with a dead broker: Faust's graceful stop then
    waited on the broker for ever. Now it has a deadline."""
    broker = EmbeddedBroker(tmp_path / "broker", storage="memory")
    broker.start()
    try:
        kafka = KafkaSettings(bootstrap=broker.bootstrap, embedded_broker=True)
        await create_topics(kafka)
        own = StreamRig(kafka, migrated_dsn, tmp_path / "worker", "deadline-stream")
        own.data_dir.mkdir(parents=True)
        worker = own.start_worker()

        async def ready() -> bool:
            return "Worker ready" in own.log()
        await wait_for(ready, timeout=120, what="the worker ready", rig=own)
    finally:
        broker.stop()
    await asyncio.sleep(2.0)
    asked = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    try:
        await asyncio.to_thread(worker.wait, 30)
    finally:
        own.stop_all()
    assert time.monotonic() - asked < 10.0, own.log()[-2000:]


async def test_a_gateway_the_platform_stops_hearing_from_raises_gateway_offline(
        rig: StreamRig) -> None:
    """Judged by the platform's receive time, not by anything the gateway says: GW-1 last
    heard from 10 minutes ago is flagged for its subject, GW-2 heard from now is not, and
    later checks extend the one flag rather than raise another."""
    async with await psycopg.AsyncConnection.connect(rig.dsn) as conn:
        await conn.execute("UPDATE gateways SET last_seen_at = now() - interval '10 minutes'"
                           " WHERE id = 'GW-1'")
        await conn.execute("UPDATE gateways SET last_seen_at = now() WHERE id = 'GW-2'")
        await conn.commit()
    rig.start_worker()

    async def flagged() -> bool:
        return await scalar(rig.dsn, "SELECT count(*) FROM flags"
                                     " WHERE rule_id = 'gateway_offline'") == 1
    await wait_for(flagged, timeout=90, what="the gateway_offline flag", rig=rig)
    subject, details, first_end = (await scalar(
        rig.dsn, "SELECT ARRAY[subject_code, details->>'gateway', window_end::text]"
                 " FROM flags WHERE rule_id = 'gateway_offline'"))
    assert (subject, details) == ("S-1", "GW-1")
    [published] = [json.loads(r.value) for r in await rig.read(rig.kafka.topics.flags, minimum=1)
                   if json.loads(r.value)["rule_id"] == "gateway_offline"]
    assert published["subject"] == "S-1" and published["flag_id"] is not None

    async def extended() -> bool:
        later = await scalar(rig.dsn, "SELECT window_end::text FROM flags"
                                      " WHERE rule_id = 'gateway_offline'")
        return later != first_end
    await wait_for(extended, timeout=60, what="a later check extending the flag", rig=rig)
    assert await scalar(rig.dsn, "SELECT count(*) FROM flags WHERE rule_id = 'gateway_offline'") == 1
