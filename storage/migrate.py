"""Versioned migrations: ``migrations/NNNN_name.sql`` or ``NNNN_name.py``, applied in order.

Each migration runs in its own transaction under an advisory lock (two processes cannot
migrate at once) and is recorded in ``schema_migrations`` with a checksum. Re-running is
a no-op; a database migrated by newer code is refused; an applied file that changed
since is reported. Python migrations exist for the parts that depend on the storage mode
(TimescaleDB or native partitioning), which is decided once and stored.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from psycopg import AsyncConnection
from psycopg import errors as pg_errors

from storage import timescale
from storage.errors import MigrationError, NotMigratedError, SchemaTooNewError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.(sql|py)$")
_LOCK_KEY = 0x7472_6961_6C77  # "trialw": serialises concurrent migrators
MODE_ENV = "TRIALWIRE_STORAGE_MODE"

StorageMode = Literal["timescaledb", "partitioned"]


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    path: Path
    checksum: str


@dataclass(frozen=True, slots=True)
class MigrationContext:
    """What a Python migration may depend on."""

    mode: StorageMode
    partitions_ahead_days: int


@dataclass(frozen=True, slots=True)
class AppliedMigration:
    version: int
    name: str
    checksum: str
    applied_at: datetime


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    """What ``trialwire db status`` prints."""

    current_version: int
    code_version: int
    pending: list[Migration]
    applied: list[AppliedMigration]
    changed: list[int]  # applied versions whose file changed since
    mode: StorageMode | None
    mode_reason: str | None
    timescale: timescale.Detection


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Migrations shipped with the code, in version order (duplicate versions are an error)."""
    found: dict[int, Migration] = {}
    for path in sorted(directory.iterdir()):
        match = _NAME.match(path.name)
        if match is None:
            continue
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"two migrations share version {version:04d}")
        checksum = hashlib.sha256(path.read_bytes()).hexdigest()
        found[version] = Migration(version, match.group(2), path, checksum)
    return [found[v] for v in sorted(found)]


async def _ensure_bookkeeping(conn: AsyncConnection[Any]) -> None:
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    )
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS storage_mode ("
        " singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),"
        " mode text NOT NULL CHECK (mode IN ('timescaledb', 'partitioned')),"
        " reason text NOT NULL, decided_at timestamptz NOT NULL DEFAULT now())"
    )


async def _applied(conn: AsyncConnection[Any]) -> list[AppliedMigration]:
    try:
        cur = await conn.execute(
            "SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version"
        )
    except pg_errors.UndefinedTable:
        await conn.rollback()
        return []
    return [AppliedMigration(*row) for row in await cur.fetchall()]


async def stored_mode(conn: AsyncConnection[Any]) -> tuple[StorageMode, str] | None:
    """The storage mode decided at migration time, or None before the first migration."""
    try:
        cur = await conn.execute("SELECT mode, reason FROM storage_mode")
    except pg_errors.UndefinedTable:
        await conn.rollback()
        return None
    row = await cur.fetchone()
    return (row[0], row[1]) if row else None


async def _decide_mode(conn: AsyncConnection[Any]) -> tuple[StorageMode, str]:
    existing = await stored_mode(conn)
    if existing is not None:
        return existing
    detection = await timescale.detect(conn)
    forced = os.environ.get(MODE_ENV)
    if forced == "partitioned":
        mode: StorageMode = "partitioned"
        reason = f"{MODE_ENV}=partitioned ({detection.reason})"
    elif forced not in (None, "", "timescaledb", "auto"):
        raise MigrationError(f"{MODE_ENV} must be 'auto', 'timescaledb' or 'partitioned', "
                             f"not {forced!r}")
    elif detection.available:
        mode, reason = "timescaledb", detection.reason
    elif forced == "timescaledb":
        raise MigrationError(f"{MODE_ENV}=timescaledb but {detection.reason}")
    else:
        mode, reason = "partitioned", detection.reason
    await conn.execute("INSERT INTO storage_mode (mode, reason) VALUES (%s, %s)", (mode, reason))
    return mode, reason


async def _run(conn: AsyncConnection[Any], migration: Migration, ctx: MigrationContext) -> None:
    if migration.path.suffix == ".sql":
        await conn.execute(migration.path.read_text())
        return
    spec = importlib.util.spec_from_file_location(
        f"storage.migrations.m{migration.version:04d}", migration.path
    )
    if spec is None or spec.loader is None:
        raise MigrationError(f"cannot load {migration.path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    await module.upgrade(conn, ctx)


async def migrate(
    conn: AsyncConnection[Any],
    *,
    partitions_ahead_days: int = 7,
    progress: Callable[[Migration], None] | None = None,
    directory: Path = MIGRATIONS_DIR,
) -> list[Migration]:
    """Apply pending migrations in order; return the ones applied (empty when up to date)."""
    code = discover(directory)
    code_version = code[-1].version if code else 0
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        await _ensure_bookkeeping(conn)
        applied = {m.version: m for m in await _applied(conn)}
        newest = max(applied, default=0)
        if newest > code_version:
            raise SchemaTooNewError(
                f"database schema is at version {newest} but this trialwire only knows up to "
                f"{code_version}; upgrade trialwire instead of migrating"
            )
        mode, _reason = await _decide_mode(conn)
    ctx = MigrationContext(mode=mode, partitions_ahead_days=partitions_ahead_days)
    done: list[Migration] = []
    for migration in code:
        if migration.version in applied:
            continue
        if progress is not None:
            progress(migration)
        try:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
                # Another process may have applied it while we waited for the lock.
                cur = await conn.execute(
                    "SELECT 1 FROM schema_migrations WHERE version = %s", (migration.version,)
                )
                if await cur.fetchone() is not None:
                    continue
                await _run(conn, migration, ctx)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                    (migration.version, migration.name, migration.checksum),
                )
        except MigrationError:
            raise
        except Exception as exc:
            raise MigrationError(
                f"migration {migration.version:04d}_{migration.name} failed: {exc}"
            ) from exc
        done.append(migration)
    return done


async def status(conn: AsyncConnection[Any], *,
                 directory: Path = MIGRATIONS_DIR) -> SchemaStatus:
    """Compare the database's migration history with the code's."""
    code = discover(directory)
    applied = await _applied(conn)
    by_version = {m.version: m for m in code}
    applied_versions = {a.version for a in applied}
    changed = [a.version for a in applied
               if a.version in by_version and by_version[a.version].checksum != a.checksum]
    mode = await stored_mode(conn)
    detection = await timescale.detect(conn)
    return SchemaStatus(
        current_version=max(applied_versions, default=0),
        code_version=code[-1].version if code else 0,
        pending=[m for m in code if m.version not in applied_versions],
        applied=applied,
        changed=changed,
        mode=mode[0] if mode else None,
        mode_reason=mode[1] if mode else None,
        timescale=detection,
    )


async def require_current(conn: AsyncConnection[Any]) -> StorageMode:
    """Raise unless the schema is fully migrated by this code; return the storage mode."""
    st = await status(conn)
    if st.current_version > st.code_version:
        raise SchemaTooNewError(
            f"database schema version {st.current_version} is newer than this code "
            f"({st.code_version})"
        )
    if st.pending or st.mode is None:
        raise NotMigratedError("database schema is not up to date: run `trialwire db migrate`")
    return st.mode
