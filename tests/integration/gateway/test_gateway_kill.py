"""The gateway process killed with SIGKILL in the middle of uploads and restarted: stored
records all arrive, streaming values are lost only in the instant of the kill, and any
value seen twice is an identical re-sent batch."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from devices.catalog import DeviceType
from devices.sim.emission import read_emissions
from gateway.config import dump_config
from stream.contract import status as status_codec
from stream.contract.topics import TOPICS
from stream.kafka.admin import ensure_topics
from stream.kafka.settings import KafkaSettings
from tests.integration.gateway.harness import assert_delivered, gateway_config, read_envelopes

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.e2e,
              pytest.mark.timeout(900)]  # may wait its turn (tests/conftest.py)

SPEED = 10.0
DEVICES = (DeviceType.ECG_PATCH, DeviceType.CGM, DeviceType.SMARTWATCH, DeviceType.GLUCOSE_METER)


async def _spawn(*args: str, env: dict[str, str], log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as stderr:  # the child keeps its own copy of the descriptor
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "deploy.cli", *args, env=env, stdout=subprocess.PIPE,
            stderr=stderr)


async def _banner(proc: asyncio.subprocess.Process) -> dict:
    assert proc.stdout is not None
    return json.loads(await asyncio.wait_for(proc.stdout.readline(), 30))


async def _stop(proc: asyncio.subprocess.Process, sig: int = signal.SIGTERM) -> int:
    if proc.returncode is None:
        proc.send_signal(sig)
    return await asyncio.wait_for(proc.wait(), 30)


async def test_gateway_sigkill_and_restart(tmp_path: Path, kafka_settings: KafkaSettings) -> None:
    await ensure_topics(kafka_settings, partitions={t.name: 2 for t in TOPICS})
    env = dict(os.environ, TRIALWIRE_KAFKA_BOOTSTRAP=kafka_settings.bootstrap,
               TRIALWIRE_KAFKA_EMBEDDED_BROKER="true" if kafka_settings.embedded_broker else "false")
    config = gateway_config(51, DEVICES)
    config_path = tmp_path / "gateway.yaml"
    config_path.write_text(dump_config(config))
    emissions = tmp_path / "emitted.jsonl"
    hub = await _spawn("sim", "hub", env=env, log=tmp_path / "hub.log")
    procs = [hub]
    try:
        hub_address = (await _banner(hub))["hub"]
        sim = await _spawn("sim", "run", "--hub", hub_address, "--seed", "51", "--speed",
                           str(SPEED), "--devices", ",".join(d.value for d in DEVICES),
                           "--emissions", str(emissions), "--meter-interval-s", "60", env=env,
                           log=tmp_path / "sim.log")
        procs.append(sim)
        start = datetime.fromisoformat((await _banner(sim))["start"])
        gateway_args = ("gateway", "run", "--config", str(config_path), "--backend", "bumble",
                        "--hub", hub_address, "--time-scale", str(SPEED), "--time-origin",
                        start.isoformat(), "--data-dir", str(tmp_path / "gw"))
        gateway = await _spawn(*gateway_args, env=env, log=tmp_path / "gateway.log")
        procs.append(gateway)
        await _banner(gateway)
        await asyncio.sleep(25)
        killed_at = datetime.now(start.tzinfo)
        assert await _stop(gateway, signal.SIGKILL) == -signal.SIGKILL
        await asyncio.sleep(5)
        gateway = await _spawn(*gateway_args, env=env, log=tmp_path / "gateway.log")
        procs.append(gateway)
        await _banner(gateway)
        await asyncio.sleep(25)
        assert await _stop(sim) == 0
        status_file = tmp_path / "gw" / f"gateway-{config.gateway_id}" / "status.json"
        async with asyncio.timeout(90):
            while True:
                await asyncio.sleep(1)
                current = status_codec.decode(status_file.read_bytes())
                if current.spool.unbatched == 0 and current.spool.batches_unacknowledged == 0:
                    break
        assert await _stop(gateway) == 0
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

    emitted = read_emissions(emissions)
    envs = await read_envelopes(kafka_settings, config.gateway_id, timeout=30)
    kill_sim = start + (killed_at - start) * SPEED
    # Values a device had sent in the last moment before the kill were in the dead
    # process's memory, not yet in the spool: the only loss allowed, and only for
    # streaming values (stored records are backfilled).
    assert_delivered(config, emitted, envs,
                     lossy_window=(kill_sim - timedelta(seconds=2 * SPEED), kill_sim))
    assert any(r.backfilled for e in envs for r in e.readings)
    assert msgspec.json.encode(current)  # status stayed decodable throughout
