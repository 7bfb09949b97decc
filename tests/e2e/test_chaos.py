"""The whole-system reliability suite (``trialwire eval chaos``): two simulated homes
stream through separate processes (PostgreSQL, an in-memory broker, a stream worker, the
ingest service, a Bluetooth hub, wearables and gateways uploading over HTTP with their own
tokens) while every fault is injected in turn; the database must hold each emitted
reading exactly once."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.eval.chaos import FAULTS, INGEST_KILLS, evaluate

# The timeout covers waiting for its turn (tests/conftest.py) behind the running tests.
# Alone: at 30x, with other tests on the same two cores, it measured the machine's overload
# (lost values in the steady phase) rather than the faults; overload is a fault of its own.
pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.runs_alone,
              pytest.mark.timeout(1800)]


@pytest.fixture
def workdir() -> Iterator[Path]:
    """Outside pytest's 0700 tmp root: as root, the embedded PostgreSQL runs as a service
    user that must be able to reach its data directory."""
    path = Path(tempfile.mkdtemp(prefix="trialwire-chaos-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def test_every_fault_loses_and_doubles_nothing(workdir: Path) -> None:
    # 30x: the 30 simulated minutes of gateway_offline take one real minute; the worker
    # freezes for 30 s (`trialwire eval chaos` defaults to ten minutes). Two homes: with
    # three, a worker restart's CPU burst on two cores once made the virtual Bluetooth
    # hub drop a dozen notifications (overload of the simulator, not of the system).
    # up_sighup starts a second whole stack beside the one under test; its check
    # (deploy/eval/up_hangup.py) runs on its own in tests/e2e/test_up.py. overload (5x the
    # homes and every core busy for 5 minutes) would more than double this test's time;
    # it is run by `trialwire eval chaos --faults overload`, its figures in docs/reliability.md.
    faults = [f for f in FAULTS if f not in ("up_sighup", "overload")]
    try:
        result = await evaluate(workdir, faults, homes=2, speed=30.0, steady_s=6.0,
                                freeze_s=30.0)
    except Exception:
        _print_warnings(workdir / "logs")
        raise
    print(json.dumps(result, indent=2, default=str))  # the figures, in the test log
    tallies = {"steady": result["steady"], **result["faults"]}
    failed = {name: t for name, t in tallies.items() if t["lost"] or t["doubled"]}
    if failed:
        _print_warnings(workdir / "logs")  # what went wrong, in the CI log
    # The failing phases with their lost examples and the run's capture counts, in the
    # assertion itself: the summary line is the part of a CI log always shown.
    assert not failed, {"failed": failed, "captured": result["captured"]}
    assert list(result["faults"]) == faults
    for name, tally in result["faults"].items():
        assert tally["emitted"] > 0, name
        assert tally["recovery_s"] is not None, name
    poison = result["faults"]["poison_records"]
    assert poison["dead_lettered"] >= poison["poisoned"] > 0, poison
    overflow = result["faults"]["spool_overflow"]
    assert overflow["loss_reports"] > 0 and overflow["spool_dropped"] > 0, overflow
    # A frozen worker is no reason to re-send: the broker held every batch.
    freeze = result["faults"]["worker_freeze"]
    assert freeze["sent"] > 0 and freeze["resent"] <= 0.1 * freeze["sent"], freeze
    # The faults really happened: the supervisor restarted what they killed.
    restarts = result["restarts"]
    assert restarts["stream-worker"] >= 2  # SIGKILL, then the broker's reset
    assert restarts["gateway-1"] >= 1 and restarts["gateway-2"] >= 1
    assert restarts["ingest"] >= INGEST_KILLS


def _print_warnings(logs: Path, per_file: int = 40) -> None:
    """The last warnings and errors of each process log (JSON lines)."""
    for log in sorted(logs.glob("*.log")):
        lines = [line for line in log.read_text(errors="replace").splitlines()
                 if '"level": "warning"' in line or '"level": "error"' in line]
        print(f"--- {log.name}: {len(lines)} warnings/errors, last {per_file}")
        for line in lines[-per_file:]:
            print(line[:300])
