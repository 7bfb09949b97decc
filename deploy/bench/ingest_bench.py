"""``trialwire bench ingest``: gateways uploading over HTTP to one ingest process on the
embedded broker (in memory), with a stream worker and the API running as in production.

Phases, each bounded in time and sent to loopback only:

1. ``small`` gateways for ``duration`` s, each offering ``rate / gateways`` envelopes/s:
   the bytes each downloads (its watermark long-poll and the answers to its uploads), to
   compare with phase 2: constant in the number of homes, since no gateway reads anyone
   else's watermarks.
2. ``gateways`` gateways (load processes of ``deploy/bench/ingest_load.py``) offering
   ``rate`` envelopes/s in all for ``duration`` s, uploading what is due as real gateways
   do: accepted envelopes/s and readings/s, latency p50/p99 of an upload (post to answer,
   i.e. to the broker's acks=all for all its envelopes), the ingest process's peak RSS;
   meanwhile a probe gateway posts a reading stamped now every second and polls the API
   until that reading is queryable: ``e2e`` latency (the stream worker keeps up with the
   load, or this shows it does not).
3. Capacity, with the stream worker stopped (on this 2-core machine it would take the
   CPU the ingest process is measured on; in production it runs elsewhere): the same
   gateways upload ``per_upload`` envelopes each as fast as answers come.
4. A bare aiokafka producer with the same concurrency (``gateways`` senders, each sending
   ``per_upload`` batches and waiting for their acknowledgements before the next) sending
   the same batches to the same broker for ``duration`` s: ``kafka_produce_ratio`` =
   phase 3 / phase 4.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec
from aiokafka import AIOKafkaProducer

from api.auth.roles import Role
from api.auth.tokens import create_token, enroll_gateway_token
from deploy.bench.ingest_load import SimulatedGateway, smartwatch_batch
from deploy.bench.pipeline_bench import fresh_database
from deploy.bench.report import percentile, progress
from deploy.bench.seed import STUDY
from deploy.bench.servers import bench_servers
from deploy.bench.stream_rig import StreamRig, create_topics
from storage.pool import connect
from stream.kafka.settings import KafkaSettings

CHECKOUT = Path(__file__).resolve().parents[2]
TARGETS = {"envelopes_per_s": 2000, "p99_ms": 250, "kafka_produce_ratio": 0.5,
           "e2e_p99_ms": 2000}
# Envelopes offered per second in phases 1-2 (the target), and readings per envelope: a
# 1 Hz device's batch is cut every 200 ms, so a live batch holds one reading, one cut
# after a pause a few.
RATE = 2000.0
READINGS = 5
# Capacity phase: a gateway catching up sends its due batches together (the gateway's
# own uploads take up to 100).
PER_UPLOAD = 10
MAX_PER_UPLOAD = 100
SERVER_START_S = 60.0
E2E_TIMEOUT_S = 30.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


async def _enroll(dsn: str, count: int) -> tuple[list[SimulatedGateway], str]:
    """Gateway tokens for GW-1..GW-count (seeded by ``fresh_database``) and a monitor's."""
    conn = await connect(dsn)
    try:
        gateways = [SimulatedGateway(gateway=f"GW-{i}", subject=f"S-{i}", device=f"W-{i}",
                                     token=await enroll_gateway_token(
                                         conn, study=STUDY, gateway_id=f"GW-{i}",
                                         name="bench"))
                    for i in range(1, count + 1)]
        monitor = await create_token(conn, role=Role.MONITOR, study=STUDY)
        await conn.commit()
        return gateways, monitor
    finally:
        await conn.close()


def _serve(args: list[str], env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "deploy.cli", *args, "--port", str(port)],
                                env=env, cwd=CHECKOUT, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{args[0]} exited with {proc.returncode}: "
                               f"{log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{args[0]} not answering on {url} after {SERVER_START_S:.0f} s")


def _peak_rss_mb(pid: int) -> float:
    """VmHWM (peak resident set) of a live process, MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


async def _load(url: str, gateways: list[SimulatedGateway], tmp: Path, *, processes: int,
                duration: float, readings: int, per_upload: int, rate: float,
                seq_base: int) -> dict[str, Any]:
    """Run the load processes (gateways split among them, each gateway offering ``rate``
    envelopes/s, or as many as answers allow when 0); their figures merged."""
    shares = [gateways[i::processes] for i in range(processes) if gateways[i::processes]]
    procs = []
    for n, share in enumerate(shares):
        path = tmp / f"gateways-{len(gateways)}-{n}.json"
        path.write_bytes(msgspec.json.encode(share))
        procs.append(await asyncio.create_subprocess_exec(
            sys.executable, "-m", "deploy.bench.ingest_load", "--url", url, "--gateways",
            str(path), "--duration", str(duration), "--readings", str(readings),
            "--per-upload", str(per_upload), "--rate", str(rate), "--seq-base", str(seq_base),
            cwd=CHECKOUT,
            stdout=asyncio.subprocess.PIPE))
    outputs = []
    for proc in procs:
        stdout, _ = await asyncio.wait_for(proc.communicate(), duration + 120)
        if proc.returncode != 0:
            raise RuntimeError(f"a load process exited with {proc.returncode}")
        outputs.append(json.loads(stdout))
    latencies = [x for o in outputs for x in o["latencies_ms"]]
    elapsed = max(o["elapsed_s"] for o in outputs)
    envelopes = sum(o["envelopes"] for o in outputs)
    refused: dict[str, int] = {}
    for o in outputs:
        for key, count in o["refused"].items():
            refused[key] = refused.get(key, 0) + count
    down = [b for o in outputs for b in o["bytes_down"].values()]
    return {"gateways": len(gateways), "envelopes": envelopes,
            "envelopes_per_s": round(envelopes / elapsed, 1),
            "readings_per_s": round(envelopes * readings / elapsed, 1),
            "p50_ms": round(percentile(latencies, 50), 1) if latencies else None,
            "p99_ms": round(percentile(latencies, 99), 1) if latencies else None,
            "refused": refused,
            "download_bytes_per_gateway_per_min": round(sum(down) / len(down) * 60 / elapsed),
            "download_bytes_per_envelope": round(sum(down) / envelopes) if envelopes else None}


async def _probe_e2e(ingest: str, api: str, who: SimulatedGateway, monitor: str, *,
                     until: float) -> list[float]:
    """Every second, a reading stamped now; the time until the API returns it (ms)."""
    latencies: list[float] = []
    seq = 0
    async with httpx.AsyncClient(timeout=10) as client:
        while time.monotonic() < until:
            body = smartwatch_batch(who, seq, 1)
            stamped = datetime.now(UTC)
            posted = await client.post(
                f"{ingest}/v1/gateways/{who.gateway}/envelopes", content=body,
                headers={"Authorization": f"Bearer {who.token}",
                         "Content-Type": "application/json"})
            if posted.status_code == 202:
                found = await _queryable(client, api, who, monitor, seq, stamped)
                if found is not None:
                    latencies.append(found)
                seq += 1
            await asyncio.sleep(max(0.0, 1.0 - (datetime.now(UTC) - stamped).total_seconds()))
    return latencies


async def _queryable(client: httpx.AsyncClient, api: str, who: SimulatedGateway, monitor: str,
                     seq: int, stamped: datetime) -> float | None:
    params = {"metric": "heart_rate", "start": (stamped - timedelta(seconds=5)).isoformat(),
              "end": (stamped + timedelta(seconds=5)).isoformat()}
    deadline = time.monotonic() + E2E_TIMEOUT_S
    while time.monotonic() < deadline:
        page = await client.get(f"{api}/v1/studies/{STUDY}/subjects/{who.subject}/readings",
                                params=params, headers={"Authorization": f"Bearer {monitor}"})
        if page.status_code == 200 and any(r.get("seq") == seq for r in page.json()["items"]):
            return (datetime.now(UTC) - stamped).total_seconds() * 1000
        await asyncio.sleep(0.05)
    return None


async def _bare_producer(kafka: KafkaSettings, gateways: list[SimulatedGateway], *,
                         duration: float, readings: int, per_upload: int) -> float:
    """Envelopes/s of ``len(gateways)`` senders on one producer, each sending
    ``per_upload`` and awaiting their acks before the next."""
    producer = AIOKafkaProducer(**kafka.producer_config())
    await producer.start()
    sent = 0
    until = time.monotonic() + duration

    start = datetime.now(UTC) - timedelta(days=2)

    async def sender(who: SimulatedGateway) -> None:
        nonlocal sent
        seq = 10**9
        while time.monotonic() < until:
            acks = [await producer.send(kafka.topics.raw_readings,
                                        smartwatch_batch(who, s, readings,
                                                         start + timedelta(seconds=s - 10**9)),
                                        key=who.subject.encode())
                    for s in range(seq, seq + per_upload * readings, readings)]
            await asyncio.gather(*acks)
            sent += per_upload
            seq += per_upload * readings
    try:
        begin = time.perf_counter()
        await asyncio.gather(*(sender(who) for who in gateways))
        return sent / (time.perf_counter() - begin)
    finally:
        await producer.stop()


async def _run(admin_dsn: str, bootstrap: str, tmp: Path, *, gateways: int, small: int,
               duration: float, processes: int, readings: int, per_upload: int,
               rate: float) -> dict[str, Any]:
    dsn = await fresh_database(admin_dsn, "bench_ingest", gateways + 1,
                               since=datetime.now(UTC) - timedelta(days=1))
    simulated, monitor = await _enroll(dsn, gateways + 1)
    probe, simulated = simulated[-1], simulated[:-1]
    prefix = f"bench-ingest-{os.getpid()}"
    kafka = KafkaSettings(bootstrap=bootstrap, embedded_broker=True, topic_prefix=prefix)
    await create_topics(kafka, partitions=4)
    rig = StreamRig(kafka, dsn, tmp / "worker", f"{prefix}-stream")
    env = rig.env()
    api_env = {k: v for k, v in env.items() if not k.startswith("TRIALWIRE_KAFKA_")}
    servers: list[subprocess.Popen[bytes]] = []
    try:
        progress("starting the ingest service, the API and a stream worker")
        ingest_proc, ingest = _serve(["ingest", "serve", "--data-dir", str(tmp / "none")], env,
                                     tmp / "ingest.log")
        servers.append(ingest_proc)
        api_proc, api = _serve(["api", "serve", "--data-dir", str(tmp / "none")], api_env,
                               tmp / "api.log")
        servers.append(api_proc)
        rig.start_worker()
        each = rate / len(simulated)
        progress(f"{small} gateways at {each:g} envelopes/s each for {duration:g} s")
        few = await _load(ingest, simulated[:small], tmp, processes=1, duration=duration,
                          readings=readings, per_upload=MAX_PER_UPLOAD, rate=each, seq_base=0)
        progress(f"{len(simulated)} gateways offering {rate:g} envelopes/s for {duration:g} s "
                 "(and the end-to-end probe)")
        e2e = asyncio.create_task(_probe_e2e(ingest, api, probe, monitor,
                                             until=time.monotonic() + duration))
        many = await _load(ingest, simulated, tmp, processes=processes, duration=duration,
                           readings=readings, per_upload=MAX_PER_UPLOAD, rate=each,
                           seq_base=10**7)
        e2e_ms = await e2e
        rig.stop_all()
        progress(f"capacity: {len(simulated)} gateways, {per_upload} envelopes per upload as "
                 f"fast as answers come, the stream worker stopped, {duration:g} s")
        most = await _load(ingest, simulated, tmp, processes=processes, duration=duration,
                           readings=readings, per_upload=per_upload, rate=0.0,
                           seq_base=10**8)
        rss = _peak_rss_mb(ingest_proc.pid)
        progress(f"a bare aiokafka producer, {len(simulated)} senders, {duration:g} s")
        bare = await _bare_producer(kafka, simulated, duration=duration, readings=readings,
                                    per_upload=per_upload)
    finally:
        for proc in servers:
            proc.terminate()
        for proc in servers:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        rig.stop_all()
    return {
        "gateways": many["gateways"],
        "offered_envelopes_per_s": rate,
        "envelopes_per_s": many["envelopes_per_s"],
        "readings_per_s": many["readings_per_s"],
        "p50_ms": many["p50_ms"],
        "p99_ms": many["p99_ms"],
        "rss_mb": rss,
        "capacity_envelopes_per_s": most["envelopes_per_s"],
        "capacity_p99_ms": most["p99_ms"],
        "kafka_produce_ratio": round(most["envelopes_per_s"] / bare, 2) if bare else None,
        "bare_producer_envelopes_per_s": round(bare, 1),
        "e2e_p50_ms": round(percentile(e2e_ms, 50)) if e2e_ms else None,
        "e2e_p99_ms": round(percentile(e2e_ms, 99)) if e2e_ms else None,
        "e2e_probes": len(e2e_ms),
        "refused": many["refused"],
        "download_bytes_per_gateway_per_min": {
            str(few["gateways"]): few["download_bytes_per_gateway_per_min"],
            str(many["gateways"]): many["download_bytes_per_gateway_per_min"]},
        "phases": {"small": few, "load": many, "capacity": most},
        "setup": {"duration_s": duration, "readings_per_envelope": readings,
                  "capacity_envelopes_per_upload": per_upload,
                  "load_processes": processes, "raw_partitions": 4, "broker": "memory"},
        "targets": TARGETS,
    }


def run(*, gateways: int = 100, small: int = 10, duration: float = 30.0, processes: int = 2,
        readings: int = READINGS, per_upload: int = PER_UPLOAD,
        rate: float = RATE) -> dict[str, Any]:
    if not 1 <= small <= gateways:
        raise ValueError(f"small ({small}) must be between 1 and gateways ({gateways})")
    with bench_servers("memory") as servers:
        return asyncio.run(_run(servers.admin_dsn, servers.bootstrap, servers.tmp,
                                gateways=gateways, small=small, duration=duration,
                                processes=processes, readings=readings,
                                per_upload=per_upload, rate=rate))
