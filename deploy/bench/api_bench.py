"""``trialwire bench api``: the readings endpoint (30 days of 1 Hz heart rate, 500
buckets) and the flags list under a bounded load from a second process on loopback.

The API runs as ``trialwire api serve`` on an embedded PostgreSQL (durable settings); the
load generator (``deploy/bench/http_load.py``) sends requests at a fixed rate for a fixed
time and reports requests/s and latency percentiles.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from api.auth.roles import Role
from api.auth.tokens import create_token
from deploy.bench.report import progress
from deploy.bench.seed import STUDY, seed_study
from deploy.services.postgres import EmbeddedPostgres
from devices.model import Observation
from storage import benchmark
from storage import flags as flag_store
from storage.migrate import migrate
from storage.pool import connect
from storage.readings import ReadingWriter
from stream.contract.flag import Flag

T0 = datetime(2026, 10, 1, tzinfo=UTC)
CHECKOUT = Path(__file__).resolve().parents[2]


async def _prepare(dsn: str, days: int, flags: int) -> str:
    conn = await connect(dsn)
    try:
        await migrate(conn)
        await conn.commit()
        await seed_study(conn, subjects=20, start=T0)
        writer = ReadingWriter(mode="partitioned")
        rng = random.Random(3)
        total = days * 86_400
        for start in range(0, total, 20_000):
            batch = [Observation(time=T0 + timedelta(seconds=s), subject="S-1", device_id="W-1",
                                 metric="heart_rate", value=round(rng.uniform(50, 120)),
                                 unit="/min", seq=s, received_at=T0 + timedelta(seconds=s))
                     for s in range(start, min(total, start + 20_000))]
            async with conn.transaction():
                await writer.write_readings(conn, batch)
            if start % 400_000 == 0:
                progress(f"loading heart rate: {start:,}/{total:,}")
        for i in range(flags):
            await flag_store.store(conn, Flag(
                study=STUDY, subject=f"S-{i % 20 + 1}", device_id=None, metric="heart_rate",
                rule_id="hr_tachycardia", rule_version=1, severity="high",
                window_start=T0 + timedelta(minutes=10 * i),
                window_end=T0 + timedelta(minutes=10 * i + 5),
                raised_at=T0 + timedelta(minutes=10 * i + 1), raised_on="live"))
        token = await create_token(conn, role=Role.MONITOR, study=STUDY)
        await conn.commit()
        await conn.set_autocommit(True)
        await benchmark.vacuum_analyze(conn)
        return token
    finally:
        await conn.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _load(url: str, token: str, paths: list[str], rate: float, duration: float) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "deploy.bench.http_load", "--url", url, "--token", token,
         "--rate", str(rate), "--duration", str(duration), *paths],
        cwd=CHECKOUT, capture_output=True, text=True, check=True, timeout=duration + 120)
    figures: dict[str, Any] = json.loads(out.stdout)
    return figures


def run(*, days: int = 30, buckets: int = 500, rate: float = 50.0,
        duration: float = 30.0, flags: int = 2_000) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="trialwire-bench-") as tmp:
        progress("starting embedded PostgreSQL (durable settings)")
        server = EmbeddedPostgres(Path(tmp) / "pg")
        server.start()
        api = None
        try:
            dsn = server.dsn()
            token = asyncio.run(_prepare(dsn, days, flags))
            port = _free_port()
            url = f"http://127.0.0.1:{port}"
            progress(f"starting the API on {url}")
            env = {**os.environ, "TRIALWIRE_DATABASE_URL": dsn, "TRIALWIRE_KAFKA_BOOTSTRAP": ""}
            env.pop("TRIALWIRE_KAFKA_BOOTSTRAP")
            api = subprocess.Popen(
                [sys.executable, "-m", "deploy.cli", "api", "serve", "--port", str(port),
                 "--data-dir", str(Path(tmp) / "none")],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(300):
                try:
                    if httpx.get(f"{url}/openapi.json", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            end = T0 + timedelta(days=days)
            readings = [f"/v1/studies/{STUDY}/subjects/S-1/readings?" + urlencode({
                "metric": "heart_rate", "buckets": buckets,
                "start": (T0 + timedelta(minutes=j)).isoformat(), "end": end.isoformat()})
                for j in range(0, 60, 3)]
            flag_pages = [f"/v1/studies/{STUDY}/flags?limit=100",
                          f"/v1/studies/{STUDY}/flags?limit=100&severity=high&status=open",
                          f"/v1/studies/{STUDY}/flags?limit=100&subject=S-3"]
            progress(f"readings: {rate:g} req/s for {duration:g} s")
            read = _load(url, token, readings, rate, duration)
            progress(f"flags: {rate:g} req/s for {duration:g} s")
            flag = _load(url, token, flag_pages, rate, duration)
        finally:
            if api is not None:
                api.terminate()
                api.wait(timeout=30)
            server.stop()
    return {"readings": read, "flags": flag,
            "setup": {"readings_rows": days * 86_400, "buckets": buckets, "flags": flags,
                      "rate_rps": rate, "duration_s": duration},
            "targets": {"p99_ms": 200, "rate_rps": 50}}
