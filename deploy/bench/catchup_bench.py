"""``trialwire bench catchup``: how fast a stream worker drains the backlog that homes
built up while it was stopped, on the embedded persistent broker of ``trialwire up``.

The backlog is what ``homes`` homes send in ``minutes`` minutes, shaped as their gateways
cut it (batches lingering 200 ms per device): per home a smartwatch envelope per second
(heart rate and an RR interval) and an ECG patch envelope per 73-sample frame at 130 Hz.
It is produced before the worker starts; the figure is backlog envelopes over the time
from the worker being ready to the last row committed, and its ratio to the live rate
(the envelopes per second that built the backlog).
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from deploy.bench.pipeline_bench import (
    ECG_RATE_HZ,
    SAMPLES_PER_SEGMENT,
    fresh_database,
    last_ready,
    poll_until,
    produce,
)
from deploy.bench.report import progress
from deploy.bench.servers import bench_servers
from deploy.bench.stream_rig import StreamRig, create_topics
from deploy.services.broker import BrokerStorage
from stream.contract.envelope import Envelope, WireReading, WireSegment, encode
from stream.kafka.settings import KafkaSettings

TARGET_SPEEDUP = 20.0


def _watch(home: int, second: int, start: datetime, rng: random.Random) -> bytes:
    t = start + timedelta(seconds=second)
    readings = [WireReading(seq=2 * second, metric="heart_rate", value=rng.randint(55, 95),
                            unit="/min", time=t, received_at=t),
                WireReading(seq=2 * second + 1, metric="rr_interval",
                            value=rng.randint(650, 1000), unit="ms", time=t, received_at=t)]
    return encode(Envelope(batch_id=str(uuid.uuid4()), gateway_id=f"GW-{home}",
                           device_id=f"W-{home}", device_type="smartwatch",
                           subject=f"S-{home}", seq_from=2 * second, seq_to=2 * second + 1,
                           sent_at=t, readings=readings))


def _ecg(home: int, frame: int, start: datetime, rng: random.Random) -> bytes:
    t = start + timedelta(seconds=frame * SAMPLES_PER_SEGMENT / ECG_RATE_HZ)
    segment = WireSegment(seq=frame, lead="I", time=t, sampling_rate_hz=ECG_RATE_HZ,
                          samples=[float(rng.randint(-300, 1200))
                                   for _ in range(SAMPLES_PER_SEGMENT)], received_at=t)
    return encode(Envelope(batch_id=str(uuid.uuid4()), gateway_id=f"GW-{home}",
                           device_id=f"E-{home}", device_type="ecg_patch", subject=f"S-{home}",
                           seq_from=frame, seq_to=frame, sent_at=t, segments=[segment]))


def backlog(homes: int, minutes: float, start: datetime) -> list[tuple[bytes, bytes]]:
    """(key, envelope) of ``homes`` homes over ``minutes``, in the order they were sent."""
    rng = random.Random(3)
    seconds = int(minutes * 60)
    frames = int(seconds * ECG_RATE_HZ / SAMPLES_PER_SEGMENT)
    timed: list[tuple[float, bytes, bytes]] = []
    for home in range(1, homes + 1):
        key = f"S-{home}".encode()
        timed += [(s, key, _watch(home, s, start, rng)) for s in range(seconds)]
        timed += [(f * SAMPLES_PER_SEGMENT / ECG_RATE_HZ, key, _ecg(home, f, start, rng))
                  for f in range(frames)]
    timed.sort(key=lambda x: x[0])
    return [(key, value) for _, key, value in timed]


async def _run(admin_dsn: str, bootstrap: str, tmp: Path, *, homes: int, minutes: float,
               partitions: int, storage: BrokerStorage) -> dict[str, Any]:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=minutes + 5)
    dsn = await fresh_database(admin_dsn, "bench_catchup", homes, since=start)
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    kafka = KafkaSettings(bootstrap=bootstrap, embedded_broker=True, topic_prefix=prefix)
    await create_topics(kafka, partitions)
    keyed = backlog(homes, minutes, start)
    live_rate = len(keyed) / (minutes * 60)
    readings = homes * int(minutes * 60) * 2
    segments = homes * int(minutes * 60 * ECG_RATE_HZ / SAMPLES_PER_SEGMENT)
    progress(f"producing the backlog of {homes} home(s) over {minutes:g} min: {len(keyed)} "
             f"envelopes ({live_rate:.1f}/s live)")
    await produce(kafka, keyed)
    rig = StreamRig(kafka, dsn, tmp / "catchup", f"{prefix}-stream",
                    completeness_interval_s=None)
    rig.data_dir.mkdir(parents=True)
    started = time.time()
    rig.start_worker("w1")
    try:
        progress("worker started; draining")
        timeout = max(600.0, minutes * 60)
        rows = await poll_until(dsn, "readings", readings, timeout_s=timeout)
        segs = await poll_until(dsn, "waveform_segments", segments, timeout_s=timeout)
    finally:
        rig.stop_all()
    done = max(rows[-1][0], segs[-1][0])
    ready = last_ready([rig.log("w1")]) or started
    drain_s = done - ready
    rate = len(keyed) / max(drain_s, 1e-3)
    return {
        "backlog_envelopes": len(keyed), "backlog_readings": readings,
        "backlog_segments": segments,
        "live_envelopes_per_s": round(live_rate, 2),
        "worker_start_s": round(ready - started, 1),
        "drain_s": round(drain_s, 1),
        "envelopes_per_s": round(rate, 1),
        "speedup": round(rate / live_rate, 1),
        "setup": {"homes": homes, "stall_minutes": minutes, "partitions": partitions,
                  "workers": 1, "broker_storage": storage, "rules": "all defaults on"},
        "targets": {"speedup": TARGET_SPEEDUP},
    }


def run(*, homes: int = 3, minutes: float = 30.0, partitions: int = 4,
        broker_storage: BrokerStorage = "s3") -> dict[str, Any]:
    with bench_servers(broker_storage) as servers:
        return asyncio.run(_run(servers.admin_dsn, servers.bootstrap, servers.tmp,
                                homes=homes, minutes=minutes, partitions=partitions,
                                storage=broker_storage))
