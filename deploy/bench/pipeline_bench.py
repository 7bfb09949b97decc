"""``trialwire bench pipeline``: raw topic → committed database rows through real stream
workers, with all rules on; and the raw binary COPY rate of the same server as ceiling.

Per phase a fresh database (migrated, a study of ``subjects`` subjects seeded) and a fresh
topic prefix. The envelopes are produced before the workers start, so the figure is the
workers' sustained rate: rows committed between the first and the last stored row,
divided by that time. Latency: at half the measured vitals rate, probe envelopes each
complete a tachycardia run; the time from producing one to its flag row being visible.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from aiokafka import AIOKafkaProducer

from deploy.bench.report import percentile, progress
from deploy.bench.seed import seed_study
from deploy.bench.servers import bench_servers
from deploy.bench.stream_rig import StreamRig, create_topics
from deploy.services.broker import BrokerStorage
from devices.model import Observation
from storage import admin as admin_queries
from storage import benchmark, partitions
from storage.migrate import migrate
from storage.pool import connect
from stream.contract.envelope import Envelope, WireReading, WireSegment, encode
from stream.kafka.settings import KafkaSettings

T0 = datetime(2026, 11, 1, tzinfo=UTC)
ECG_RATE_HZ = 130.0
SAMPLES_PER_SEGMENT = 73  # one Polar PMD frame


def _vitals(subject: int, block: int, per_envelope: int, rng: random.Random) -> bytes:
    """``per_envelope`` seconds of 1 Hz heart rate of one subject's watch."""
    seq0 = block * per_envelope
    readings = [WireReading(seq=seq0 + i, metric="heart_rate", value=round(rng.uniform(55, 95)),
                            unit="/min", time=T0 + timedelta(seconds=seq0 + i),
                            received_at=T0 + timedelta(seconds=seq0 + i + 1))
                for i in range(per_envelope)]
    return encode(Envelope(batch_id=str(uuid.uuid4()), gateway_id=f"GW-{subject}",
                           device_id=f"W-{subject}", device_type="smartwatch",
                           subject=f"S-{subject}", seq_from=seq0,
                           seq_to=seq0 + per_envelope - 1, sent_at=T0, readings=readings))


def _ecg(subject: int, block: int, segments: int, rng: random.Random) -> bytes:
    seq0 = block * segments
    dt = SAMPLES_PER_SEGMENT / ECG_RATE_HZ
    segs = [WireSegment(seq=seq0 + i, lead="I", time=T0 + timedelta(seconds=(seq0 + i) * dt),
                        sampling_rate_hz=ECG_RATE_HZ,
                        samples=[float(rng.randint(-300, 1200)) for _ in range(SAMPLES_PER_SEGMENT)],
                        received_at=T0 + timedelta(seconds=(seq0 + i) * dt + 1))
            for i in range(segments)]
    return encode(Envelope(batch_id=str(uuid.uuid4()), gateway_id=f"GW-{subject}",
                           device_id=f"E-{subject}", device_type="ecg_patch",
                           subject=f"S-{subject}", seq_from=seq0, seq_to=seq0 + segments - 1,
                           sent_at=T0, segments=segs))


async def fresh_database(admin_dsn: str, name: str, subjects: int,
                         since: datetime = T0 - timedelta(days=1)) -> str:
    with psycopg.connect(admin_dsn, autocommit=True) as admin:
        admin_queries.recreate_database(admin, name=name)
    dsn = psycopg.conninfo.make_conninfo(admin_dsn, dbname=name)
    conn = await connect(dsn)
    try:
        await migrate(conn)
        await conn.commit()
        await seed_study(conn, subjects=subjects, start=since)
    finally:
        await conn.close()
    return dsn


async def produce(kafka: KafkaSettings, keyed: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(**kafka.producer_config())
    await producer.start()
    try:
        for key, value in keyed:
            await producer.send(kafka.topics.raw_readings, value, key=key)
        await producer.flush()
    finally:
        await producer.stop()


# Committed rows, counted cheaply: a count(*) of the growing readings table every 250 ms
# took a noticeable share of the database's CPU away from the workers being measured; the
# minute rollup is written in the same transaction as the rows and is ~60 times smaller.
_COUNTS = {"readings": benchmark.committed_readings,
           "waveform_segments": benchmark.committed_segments}


async def _count(dsn: str, table: str) -> int:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        return await _COUNTS[table](conn)


async def poll_until(dsn: str, table: str, expected: int, timeout_s: float,
                      ) -> list[tuple[float, int]]:
    """(epoch seconds, committed rows) every 250 ms until ``expected`` rows are there."""
    samples: list[tuple[float, int]] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        n = await _count(dsn, table)
        samples.append((time.time(), n))
        if n >= expected:
            return samples
        await asyncio.sleep(0.25)
    raise RuntimeError(f"only {samples[-1][1] if samples else 0} of {expected} {table} rows "
                       f"committed in {timeout_s} s")


def last_ready(logs: list[str]) -> float | None:
    """When the last of the workers said "Worker ready" (epoch seconds): from then on the
    group is settled, with every worker consuming its partitions."""
    last = None
    for text in logs:
        # A line may start with a terminal control sequence before its JSON object.
        times = [datetime.fromisoformat(json.loads(line[line.index("{"):])["timestamp"])
                 .timestamp() for line in text.splitlines()
                 if "Worker ready" in line and "{" in line]
        if not times:
            return None
        last = max(times[-1], last or 0.0)
    return last


def _sustained_rate(samples: list[tuple[float, int]], settled: float | None) -> float:
    """Rows/s from the first poll after the consumer group settled (or after rows first
    appeared) to the poll that saw the last row: a rebalance while the second worker joins
    is start-up, not throughput."""
    moving = [(t, n) for t, n in samples if n > 0]
    after = [(t, n) for t, n in moving if settled is not None and t >= settled]
    start = after[0] if len(after) >= 2 else moving[0]
    end = next((t, n) for t, n in samples if n == samples[-1][1])
    return (end[1] - start[1]) / max(end[0] - start[0], 1e-3)


async def _phase(admin_dsn: str, base: KafkaSettings, tmp: Path, *, kind: str, workers: int,
                 subjects: int, envelopes: int, per_envelope: int, partitions: int) -> float:
    name = f"bench_{kind}_{workers}"
    dsn = await fresh_database(admin_dsn, name, subjects)
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    kafka = base.model_copy(update={"topic_prefix": prefix})
    await create_topics(kafka, partitions)
    rng = random.Random(5)
    keyed = []
    for n in range(envelopes):
        subject = n % subjects + 1
        block = n // subjects
        make = _vitals if kind == "vitals" else _ecg
        keyed.append((f"S-{subject}".encode(), make(subject, block, per_envelope, rng)))
    progress(f"{kind}, {workers} worker(s): producing {envelopes} envelopes")
    await produce(kafka, keyed)
    rig = StreamRig(kafka, dsn, tmp / name, f"{prefix}-stream", completeness_interval_s=None)
    rig.data_dir.mkdir(parents=True)
    for i in range(workers):
        rig.start_worker(f"w{i + 1}")
    try:
        table = "readings" if kind == "vitals" else "waveform_segments"
        samples = await poll_until(dsn, table, envelopes * per_envelope, timeout_s=600)
    finally:
        rig.stop_all()
    rate = _sustained_rate(samples, last_ready([rig.log(f"w{i + 1}") for i in range(workers)]))
    return rate * (1 if kind == "vitals" else SAMPLES_PER_SEGMENT)


async def _latency(admin_dsn: str, base: KafkaSettings, tmp: Path, *, rate: float,
                   workers: int, subjects: int, per_envelope: int, partitions: int,
                   probes: int) -> list[float]:
    """Produce → flag visible, for ``probes`` tachycardia runs under half the vitals load
    (``rate``, as measured with ``workers`` workers, which run here too)."""
    dsn = await fresh_database(admin_dsn, "bench_latency", subjects + probes)
    kafka = base.model_copy(update={"topic_prefix": f"bench-{uuid.uuid4().hex[:8]}"})
    await create_topics(kafka, partitions)
    rig = StreamRig(kafka, dsn, tmp / "latency", "bench-latency-stream",
                    completeness_interval_s=None)
    rig.data_dir.mkdir(parents=True)
    for i in range(workers):
        rig.start_worker(f"w{i + 1}")
    producer = AIOKafkaProducer(**kafka.producer_config())
    await producer.start()
    rng = random.Random(9)
    stop = asyncio.Event()

    async def background() -> None:
        interval = per_envelope / (rate / 2)  # half the measured readings/s
        n = 0
        while not stop.is_set():
            subject = n % subjects + 1
            await producer.send(kafka.topics.raw_readings,
                                _vitals(subject, n // subjects, per_envelope, rng),
                                key=f"S-{subject}".encode())
            n += 1
            await asyncio.sleep(interval)

    try:
        # Wait until the worker stores readings before timing anything.
        await produce(kafka, [(b"S-1", _vitals(1, 10_000, per_envelope, rng))])
        for _ in range(600):
            if await _count(dsn, "readings"):
                break
            await asyncio.sleep(0.2)
        load = asyncio.create_task(background())
        delays = []
        for p in range(probes):
            subject = subjects + p + 1
            probe = encode(Envelope(
                batch_id=str(uuid.uuid4()), gateway_id=f"GW-{subject}", device_id=f"W-{subject}",
                device_type="smartwatch", subject=f"S-{subject}", seq_from=0, seq_to=69,
                sent_at=T0, readings=[WireReading(
                    seq=i, metric="heart_rate", value=130.0, unit="/min",
                    time=T0 + timedelta(seconds=i), received_at=T0 + timedelta(seconds=i))
                    for i in range(70)]))
            sent = time.perf_counter()
            await (await producer.send(kafka.topics.raw_readings, probe,
                                       key=f"S-{subject}".encode()))
            async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
                while not await benchmark.has_flag(conn, subject=f"S-{subject}"):
                    await asyncio.sleep(0.01)
            delays.append((time.perf_counter() - sent) * 1000)
            await asyncio.sleep(0.5)
        stop.set()
        await load
    finally:
        await producer.stop()
        rig.stop_all()
    return delays


async def _raw_copy_rate(admin_dsn: str, rows: int) -> float:
    dsn = await fresh_database(admin_dsn, "bench_raw_copy", 1)
    conn = await connect(dsn)
    rng = random.Random(2)
    spent = 0.0
    try:
        last = T0 + timedelta(seconds=rows + 1)
        await partitions.create_days(conn, "readings", partitions.days_between(T0, last))
        await conn.commit()
        for start in range(0, rows, 10_000):
            batch = [Observation(time=T0 + timedelta(seconds=n), subject="S-1", device_id="W-1",
                                 metric="heart_rate", value=rng.uniform(50, 120), unit="/min",
                                 seq=n, received_at=T0 + timedelta(seconds=n))
                     for n in range(start, min(rows, start + 10_000))]
            t = time.perf_counter()
            await benchmark.raw_copy(conn, batch)
            spent += time.perf_counter() - t
    finally:
        await conn.close()
    return rows / spent


async def _run(admin_dsn: str, bootstrap: str, tmp: Path, *, subjects: int, envelopes: int,
               per_envelope: int, ecg_envelopes: int, segments: int, partitions: int,
               probes: int) -> dict[str, Any]:
    base = KafkaSettings(bootstrap=bootstrap, embedded_broker=True)
    figures: dict[str, Any] = {}
    for workers in (1, 2):
        figures[f"vitals_{workers}w"] = await _phase(
            admin_dsn, base, tmp, kind="vitals", workers=workers, subjects=subjects,
            envelopes=envelopes, per_envelope=per_envelope, partitions=partitions)
        progress(f"vitals, {workers} worker(s): {figures[f'vitals_{workers}w']:,.0f} readings/s")
        figures[f"ecg_{workers}w"] = await _phase(
            admin_dsn, base, tmp, kind="ecg", workers=workers, subjects=subjects,
            envelopes=ecg_envelopes, per_envelope=segments, partitions=partitions)
        progress(f"ECG, {workers} worker(s): {figures[f'ecg_{workers}w']:,.0f} samples/s")
    progress("raw binary COPY ceiling")
    raw = await _raw_copy_rate(admin_dsn, envelopes * per_envelope)
    best_vitals = max(figures["vitals_1w"], figures["vitals_2w"])
    best_workers = 1 if figures["vitals_1w"] >= figures["vitals_2w"] else 2
    progress(f"latency at half load ({best_workers} worker(s))")
    delays = await _latency(admin_dsn, base, tmp, rate=best_vitals, workers=best_workers,
                            subjects=subjects,
                            per_envelope=per_envelope, partitions=partitions, probes=probes)
    return {
        "vitals_readings_per_s": round(best_vitals),
        "ecg_samples_per_s": round(max(figures["ecg_1w"], figures["ecg_2w"])),
        "raw_copy_rows_per_s": round(raw),
        "ratio": round(best_vitals / raw, 3),
        "latency_ms": {"p50": round(percentile(delays, 50), 1),
                       "p99": round(percentile(delays, 99), 1),
                       "workers": best_workers, "load_readings_per_s": round(best_vitals / 2)},
        "by_workers": {
            "1": {"vitals_readings_per_s": round(figures["vitals_1w"]),
                  "ecg_samples_per_s": round(figures["ecg_1w"])},
            "2": {"vitals_readings_per_s": round(figures["vitals_2w"]),
                  "ecg_samples_per_s": round(figures["ecg_2w"])},
        },
        "setup": {"subjects": subjects, "vitals_readings": envelopes * per_envelope,
                  "readings_per_envelope": per_envelope,
                  "ecg_samples": ecg_envelopes * segments * SAMPLES_PER_SEGMENT,
                  "partitions": partitions, "latency_probes": probes,
                  "rules": "all defaults on"},
        "targets": {"vitals_readings_per_s": 100_000, "ecg_samples_per_s": 1_000_000,
                    "ratio": 0.5, "latency_p99_ms": 1000},
    }


def run(*, subjects: int = 100, envelopes: int = 8_000, per_envelope: int = 100,
        ecg_envelopes: int = 3_000, segments: int = 40, partitions: int = 4,
        probes: int = 30, broker_storage: BrokerStorage = "memory") -> dict[str, Any]:
    with bench_servers(broker_storage) as servers:
        result = asyncio.run(_run(
            servers.admin_dsn, servers.bootstrap, servers.tmp, subjects=subjects,
            envelopes=envelopes, per_envelope=per_envelope, ecg_envelopes=ecg_envelopes,
            segments=segments, partitions=partitions, probes=probes))
    result["setup"]["broker_storage"] = broker_storage
    return result
