"""``trialwire bench gateway``: CPU and memory of the gateway process with 1, 4 and 8
virtual devices streaming at their real rates (ECG 130 Hz), and the delay from a
notification reaching the gateway to Kafka acknowledging it (p50/p99).

Everything runs on 127.0.0.1: an in-memory broker, a Bluetooth hub process, simulator
processes (one per home of up to four devices) and the gateway process under test, which
is measured with psutil (CPU time over wall time; peak RSS).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from deploy.bench.report import progress
from deploy.services.broker import EmbeddedBroker
from devices.catalog import DeviceType
from devices.sim.home import DEFAULT_DEVICES, address_for, serial_for
from gateway.config import dump_config
from stream.contract import status as status_codec
from stream.contract.gateway_config import DeviceEntry, GatewayConfig
from stream.kafka.admin import ensure_topics
from stream.kafka.settings import KafkaSettings

# device count -> homes (seed, device types)
LAYOUTS: dict[int, list[tuple[int, tuple[DeviceType, ...]]]] = {
    1: [(1001, (DeviceType.ECG_PATCH,))],
    4: [(1004, DEFAULT_DEVICES)],
    8: [(1008, DEFAULT_DEVICES), (1009, DEFAULT_DEVICES)],
}


def _cli(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "deploy.cli", *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)


def _banner(proc: subprocess.Popen[str]) -> dict[str, Any]:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise RuntimeError(f"{proc.args!r} exited before it started")
    banner: dict[str, Any] = json.loads(line)
    return banner


def _stop(procs: list[subprocess.Popen[str]]) -> None:
    for proc in reversed(procs):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in reversed(procs):
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _measure(count: int, env: dict[str, str], work: Path, duration_s: float) -> dict[str, Any]:
    procs: list[subprocess.Popen[str]] = []
    try:
        hub = _cli("sim", "hub", env=env)
        procs.append(hub)
        hub_address = _banner(hub)["hub"]
        entries = []
        for seed, types in LAYOUTS[count]:
            sim = _cli("sim", "run", "--hub", hub_address, "--seed", str(seed), "--devices",
                       ",".join(t.value for t in types), "--meter-interval-s", "300", env=env)
            procs.append(sim)
            _banner(sim)
            entries += [DeviceEntry(id=f"DEV-{serial_for(seed, t)}", type=t,
                                    address=address_for(seed, t), serial=serial_for(seed, t))
                        for t in types]
        config = GatewayConfig(gateway_id=f"GW-BENCH-{count}", study="BENCH",
                               subject=f"S-BENCH-{count}", devices=entries,
                               status_interval_s=5.0, upload="kafka")
        config_path = work / f"gateway-{count}.yaml"
        config_path.write_text(dump_config(config))
        gateway = _cli("gateway", "run", "--config", str(config_path), "--backend", "bumble",
                       "--hub", hub_address, "--data-dir", str(work / f"gw-{count}"), env=env)
        procs.append(gateway)
        _banner(gateway)
        status_file = work / f"gw-{count}" / f"gateway-{config.gateway_id}" / "status.json"
        deadline = time.monotonic() + 90
        while True:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{count} device(s) did not all connect within 90 s")
            time.sleep(1)
            if status_file.exists():
                current = status_codec.decode(status_file.read_bytes())
                if all(d.connected for d in current.devices):
                    break
        time.sleep(5)  # warm-up: first connects, backfills, batches
        proc = psutil.Process(gateway.pid)
        before = proc.cpu_times()
        started = time.monotonic()
        rss = 0
        while time.monotonic() - started < duration_s:
            rss = max(rss, proc.memory_info().rss)
            time.sleep(1)
        after = proc.cpu_times()
        wall = time.monotonic() - started
        cpu = (after.user + after.system - before.user - before.system) / wall * 100
        current = status_codec.decode(status_file.read_bytes())
        return {"cpu_percent": round(cpu, 2), "rss_mb": round(rss / 2**20, 1),
                "readings": sum(d.readings for d in current.devices),
                "ack_latency_ms": current.upload.ack_latency_ms}
    finally:
        _stop(procs)


def run(*, duration_s: float, counts: tuple[int, ...] = (1, 4, 8)) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="trialwire-bench-gw-") as tmp:
        work = Path(tmp)
        broker = EmbeddedBroker(work / "broker")
        broker.start()
        try:
            kafka = KafkaSettings(bootstrap=broker.bootstrap, embedded_broker=True)
            asyncio.run(ensure_topics(kafka))
            env = dict(os.environ, TRIALWIRE_KAFKA_BOOTSTRAP=broker.bootstrap,
                       TRIALWIRE_KAFKA_EMBEDDED_BROKER="true")
            devices: dict[str, Any] = {}
            for count in counts:
                progress(f"{count} device(s): measuring for {duration_s:.0f} s")
                devices[str(count)] = _measure(count, env, work, duration_s)
        finally:
            broker.stop()
    biggest = devices[str(max(counts))]["ack_latency_ms"]
    return {
        "devices": devices,
        "ack_latency_ms": {"p50": biggest.get("p50"), "p99": biggest.get("p99")},
        "duration_s": duration_s,
        "cpu_cores": psutil.cpu_count(),
        "targets": {"cpu_percent_8": 5.0, "rss_mb_8": 150.0, "ack_latency_p99_ms": 500.0},
    }
