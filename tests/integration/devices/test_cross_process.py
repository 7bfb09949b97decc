"""`trialwire sim run` in one process, a bumble central in another, over the TCP hub."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from bumble.core import UUID
from bumble.device import Peer

from devices.gatt import heart_rate
from devices.gatt.registry import decode, full_uuid
from devices.sim.emission import read_emissions
from devices.sim.hub import RemoteRadio

# The timeout covers waiting for its turn (tests/conftest.py) behind an end-to-end test.
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.takes_turns,
              pytest.mark.timeout(1800)]


async def _read_banner(proc: asyncio.subprocess.Process) -> dict:
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), timeout=30)
    return json.loads(line)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGKILL])
async def test_sim_process_serves_a_central_in_another_process(tmp_path: Path,
                                                               stop_signal: int) -> None:
    emissions = tmp_path / "emitted.jsonl"
    truth = tmp_path / "truth.json"
    hub = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "deploy.cli", "sim", "hub", stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, env=dict(os.environ))
    hub_address = (await _read_banner(hub))["hub"]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "deploy.cli", "sim", "run", "--hub", hub_address,
        "--seed", "5", "--speed", "5",
        "--scenario", "tachycardia", "--devices", "smartwatch",
        "--emissions", str(emissions), "--ground-truth", str(truth),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ))
    radio = None
    try:
        banner = await _read_banner(proc)
        assert banner["hub"] == hub_address
        [watch] = banner["devices"]
        assert watch["type"] == "smartwatch"
        radio = RemoteRadio(banner["hub"])
        central, _ = await radio.device("gateway", "F0:F0:F0:F0:F0:03")
        await central.power_on()
        connection = await central.connect(watch["address"], timeout=10)
        gone = asyncio.Event()
        connection.on("disconnection", lambda *_: gone.set())
        peer = Peer(connection)
        await peer.discover_services()
        for service in peer.services:
            await service.discover_characteristics()
        [hrm] = peer.get_characteristics_by_uuid(UUID(full_uuid(heart_rate.UUID_MEASUREMENT)))
        rates: list[float] = []
        enough = asyncio.Event()

        def on_hr(value: bytes) -> None:
            rates.extend(r.value for r in decode("0x2A37", value).readings)
            if len(rates) >= 25:
                enough.set()

        await peer.subscribe(hrm, on_hr)
        await asyncio.wait_for(enough.wait(), timeout=30)

        proc.send_signal(stop_signal)
        # The hub (still running) drops the dead process's links at once: no 30 s GATT
        # timeout for the central.
        await asyncio.wait_for(gone.wait(), timeout=5)
        code = await asyncio.wait_for(proc.wait(), timeout=15)
        assert code == (0 if stop_signal == signal.SIGTERM else -signal.SIGKILL)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        if radio is not None:
            await radio.close()
        hub.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(hub.wait(), timeout=15) == 0

    emitted = [e.value for e in read_emissions(emissions) if e.metric == "heart_rate"]
    assert rates == emitted[:len(rates)]
    assert json.loads(truth.read_text())[0]["kind"] == "tachycardia"
