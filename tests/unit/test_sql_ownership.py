"""``storage/`` owns every SQL query (DESIGN.md): no other package runs one itself.

Any call of a method named like a DB-API query method counts, whatever it is called on, so
a query cannot slip in under another name for the connection. (A list's or array's
``copy()`` counts too: write ``list(x)`` or ``np.array(x)`` instead.)
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("api", "stream", "deploy", "gateway", "devices")
QUERY_METHODS = frozenset({"execute", "executemany", "copy", "cursor"})

# The home gateway's durable spool is a local SQLite file (DESIGN, reliability model 1),
# not the platform database, so its SQL stays with it. (spool_writer.py only calls the
# spool's methods and needs no exception.)
ALLOWED = frozenset({"gateway/spool.py"})


def _offenders(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    where = path.relative_to(ROOT).as_posix()
    return [f"{where}:{node.lineno}: .{node.func.attr}()"
            for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in QUERY_METHODS]


def _sources() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py")
                  if p.relative_to(ROOT).as_posix() not in ALLOWED)


def test_the_scan_sees_every_package() -> None:
    for package in PACKAGES:
        assert any((ROOT / package).rglob("*.py")), f"no Python files under {package}/"
    assert all((ROOT / allowed).is_file() for allowed in ALLOWED), "stale allow-list entry"


def test_only_storage_runs_queries() -> None:
    offenders = [line for path in _sources() for line in _offenders(path)]
    assert not offenders, ("SQL outside storage/: move these into a storage module:\n"
                           + "\n".join(offenders))
