"""Check a data directory can be created and written before a server is started in it."""

from __future__ import annotations

from pathlib import Path

from deploy.services.errors import DataDirNotWritableError


def require_writable(path: Path, *, what: str, advice: str) -> None:
    """Create ``path`` if needed and prove it writable, else DataDirNotWritableError."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise DataDirNotWritableError(f"{what} {path} is not writable: {exc.strerror}",
                                      advice=advice) from exc
