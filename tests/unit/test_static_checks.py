"""The project's own rules, checked on every test run: the import contracts between packages
(``[tool.importlinter]`` in pyproject.toml, explained in docs/architecture.md) and ruff."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _run(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / tool), *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


def test_import_contracts_are_kept() -> None:
    done = _run("lint-imports")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_ruff_is_clean() -> None:
    done = _run("ruff", "check", "--quiet", ".")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
