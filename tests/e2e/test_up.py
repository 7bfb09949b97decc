"""What a newcomer does first: the README's install command in a fresh virtual
environment, then ``trialwire up --homes 2 --scenario hypo``; the API reports readings
and a level-2 hypoglycaemia flag for the scenario's subject, the monitoring page shows
them in a real browser, and Ctrl-C (SIGINT) stops everything, no process left behind."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psutil
import pytest
from fastapi import FastAPI, Request, Response

from deploy.eval.up_hangup import hang_up, leftovers
from deploy.services.ports import free_port
from stream.alerts import signing
from tests.fixtures.http_server import serving

# The timeout covers waiting for its turn (tests/conftest.py) behind the other such tests.
pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1800)]

REPO = Path(__file__).resolve().parents[2]


def _readme_install_command() -> str:
    """The README's install-and-run line without its last step (``uv run ... trialwire up``)."""
    readme = (REPO / "README.md").read_text()
    block = re.search(r"Install and run.*?```bash\n(.+?)\n```", readme, re.S)
    assert block, "README has no 'Install and run' command block"
    command = block.group(1).strip()
    install, _, run = command.rpartition("&&")
    assert "trialwire up" in run, command
    return install.strip()


def _fresh_venv(root: Path) -> Path:
    """A new virtual environment with trialwire installed by the README's command.

    ``UV_PROJECT_ENVIRONMENT`` points ``uv sync`` at the new environment, so the checkout's
    own ``.venv`` (the one running these tests) is left as it is."""
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    install = _readme_install_command()
    assert "uv sync --locked" in install, install
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
           "UV_PROJECT_ENVIRONMENT": str(venv), "VIRTUAL_ENV": str(venv)}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(install, shell=True, cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return venv


async def _wait_for(what: str, check, timeout_s: float, up: subprocess.Popen[bytes],
                    log: Path) -> object:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert up.poll() is None, f"trialwire up exited ({up.returncode}):\n{log.read_text()[-3000:]}"
        found = await check()
        if found:
            return found
        await asyncio.sleep(2)
    raise AssertionError(f"no {what} within {timeout_s:.0f} s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A directory outside pytest's tmp root: as root, the embedded PostgreSQL runs as a
    service user that must traverse to the venv's binaries, and pytest keeps re-locking
    its own root directory (mode 0700)."""
    path = Path(tempfile.mkdtemp(prefix="trialwire-up-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def webhook() -> Iterator[tuple[list[tuple[dict[str, str], bytes]], str]]:
    """A webhook receiver on loopback: (what it received, its URL)."""
    received: list[tuple[dict[str, str], bytes]] = []
    app = FastAPI()

    @app.post("/hook")
    async def hook(request: Request) -> Response:
        received.append((dict(request.headers), await request.body()))
        return Response(status_code=204)

    with serving(app) as port:
        yield received, f"http://127.0.0.1:{port}/hook"


async def test_readme_install_then_trialwire_up(
        workdir: Path, page: object,
        webhook: tuple[list[tuple[dict[str, str], bytes]], str]) -> None:
    tmp_path = workdir
    venv = _fresh_venv(tmp_path)
    data_dir = tmp_path / "trialwire-data"
    port = free_port()
    log = tmp_path / "up.stderr"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("TRIALWIRE_") and k != "PYTHONPATH"}
    received, hook_url = webhook
    up = subprocess.Popen(
        [str(venv / "bin" / "trialwire"), "up", "--homes", "2", "--scenario", "hypo",
         "--data-dir", str(data_dir), "--api-port", str(port), "--webhook", hook_url],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=log.open("wb"))
    started: set[int] = set()
    try:
        assert up.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(up.stdout.readline), 180)
        assert line, f"no banner from trialwire up:\n{log.read_text()[-3000:]}"
        banner = json.loads(line)
        subject, token = banner["scenario_subject"], banner["monitor_token"]
        assert subject == "S-0001" and token.startswith("tw_")
        headers = {"Authorization": f"Bearer {token}"}
        base = f"http://127.0.0.1:{port}/v1/studies/{banner['study']}"
        started = {p.pid for p in psutil.Process(up.pid).children(recursive=True)}

        async with httpx.AsyncClient(timeout=10) as client:
            async def hypo_flag() -> list[dict]:
                answer = await client.get(f"{base}/flags", headers=headers,
                                          params={"subject": subject, "rule": "glucose_hypo_l2"})
                assert answer.status_code == 200, answer.text
                return answer.json()

            async def glucose() -> list[dict]:
                now = datetime.now(UTC)
                answer = await client.get(
                    f"{base}/subjects/{subject}/readings", headers=headers,
                    params={"metric": "glucose", "start": (now - timedelta(days=1)).isoformat(),
                            "end": (now + timedelta(hours=1)).isoformat()})
                assert answer.status_code == 200, answer.text
                return answer.json()["items"]

            flags = await _wait_for("level-2 hypoglycaemia flag", hypo_flag, 300, up, log)
            readings = await _wait_for("glucose readings", glucose, 60, up, log)
            assert any(r["value"] < 54 for r in readings)  # the scenario's hypo is stored
            assert flags[0]["status"] == "open"

            async def alerted() -> list[dict]:  # the flag's alert reached the webhook
                bodies = [json.loads(body) for _, body in received]
                return [b for b in bodies if b["flag"]["id"] == flags[0]["id"]]
            [alert] = await _wait_for("the flag's webhook", alerted, 60, up, log)
            headers_in, body = next((h, b) for h, b in received
                                    if json.loads(b)["flag"]["id"] == flags[0]["id"])
            signing.verify(banner["webhook"]["signing_secret"],
                           headers_in[signing.HEADER.lower()], body, now=time.time())
            assert alert["flag"]["rule_id"] == "glucose_hypo_l2"
            assert alert["flag"]["subject"] == subject

            async def logged() -> bool:  # the dispatcher records the answer just after it
                log_of = await client.get(f"{base}/flags/{flags[0]['id']}/deliveries",
                                          headers=headers)
                assert log_of.status_code == 200, log_of.text
                return [d["status"] for d in log_of.json()] == ["delivered"]
            await _wait_for("the delivery in the log", logged, 30, up, log)
            metrics = httpx.get(banner["metrics"]["stream-worker"], timeout=5).text
            assert "trialwire_stream_readings_total" in metrics

        tab = page  # playwright Page
        await tab.goto(banner["web"])  # type: ignore[attr-defined]
        await tab.fill("input[name=study]", banner["study"])  # type: ignore[attr-defined]
        await tab.fill("input[name=token]", token)  # type: ignore[attr-defined]
        await tab.click("button[type=submit]")  # type: ignore[attr-defined]
        row = tab.locator(f"#subjects tr[data-subject='{subject}']")  # type: ignore[attr-defined]
        await row.wait_for()
        assert await tab.locator("#subjects tbody tr").count() == 2  # type: ignore[attr-defined]
        assert "mg/dL" in await row.inner_text()
        await row.locator("a").click()
        chart = tab.locator(".chart[data-metric='glucose']")  # type: ignore[attr-defined]
        await chart.locator(".uplot canvas").wait_for()
        assert int(await chart.get_attribute("data-points")) > 0
    finally:
        if up.poll() is None:
            up.send_signal(signal.SIGINT)
        try:
            code = await asyncio.to_thread(up.wait, 120)
        except subprocess.TimeoutExpired:
            up.kill()
            code = None
        if up.stdout is not None:
            up.stdout.close()
    assert code == 0, f"trialwire up exited {code} on SIGINT:\n{log.read_text()[-3000:]}"
    await asyncio.sleep(1)
    assert leftovers(started, str(data_dir)) == []


async def test_up_stops_everything_when_its_terminal_goes_away(workdir: Path) -> None:
    """A closed terminal: SIGHUP, and nobody reading the output any more. ``up`` must
    stop every child (they run in sessions of their own, so nothing else would) instead
    of dying and leaving PostgreSQL, the broker, the worker, the API, the homes and the
    gateways running."""
    ended = await hang_up(workdir / "trialwire-data")
    assert ended.children >= 6  # PostgreSQL, broker, object store, worker, API, home...
    assert ended.orphans == []
    assert ended.killed == [], ended  # each child stopped on SIGTERM within 10 s
    assert ended.exit_code == 0 and ended.stopped_s < 30, ended
