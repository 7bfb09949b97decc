"""The project's own rules, checked on every test run: the import contracts between packages
(``[tool.importlinter]`` in pyproject.toml, explained in docs/architecture.md), strict
types (``[tool.mypy]``) and ruff."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _run(tool: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / tool), *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


def test_import_contracts_are_kept() -> None:
    done = _run("lint-imports")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_ruff_is_clean() -> None:
    done = _run("ruff", "check", "--quiet", ".")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


@pytest.mark.takes_turns
@pytest.mark.timeout(1800)  # includes waiting for its turn behind an end-to-end test
def test_types_check_strictly() -> None:
    # A cache outside the checkout: CI's clone starts cold either way, and a shared cache
    # between xdist workers or runs is not worth the risk of a stale answer.
    done = _run("mypy", "--cache-dir", "/dev/null", timeout=600)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
