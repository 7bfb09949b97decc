"""Migrations: from empty, re-run, refusing a newer database, noticing edited files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from storage import migrate as migrations
from storage.errors import SchemaTooNewError
from storage.migrate import StorageMode
from storage.pool import connect

pytestmark = pytest.mark.integration

EXPECTED_TABLES = {
    "studies", "sites", "subjects", "devices", "gateways", "enrollments", "readings",
    "waveform_segments", "readings_1m", "flags", "audit_log", "export_cursors",
    "schema_migrations", "storage_mode",
}


async def test_migrate_from_empty_then_rerun_is_a_no_op(empty_dsn: str,
                                                        storage_mode: StorageMode) -> None:
    """Migration decides the mode from the server: TimescaleDB when it is preloaded."""
    conn = await connect(empty_dsn)
    try:
        seen: list[int] = []
        applied = await migrations.migrate(conn, progress=lambda m: seen.append(m.version))
        code = migrations.discover()
        assert [m.version for m in applied] == [m.version for m in code] == seen
        cur = await conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            " AND tablename NOT LIKE '%%\\_p2%%'"
        )
        tables = {r[0] for r in await cur.fetchall()}
        assert tables >= EXPECTED_TABLES
        views = {r[0] for r in await (await conn.execute(
            "SELECT viewname FROM pg_views WHERE schemaname = 'public'")).fetchall()}
        assert {"readings_hourly", "readings_daily"} <= views

        assert await migrations.migrate(conn) == []
        st = await migrations.status(conn)
        assert st.current_version == st.code_version == code[-1].version
        assert st.pending == [] and st.changed == []
        assert st.mode == storage_mode
        assert "timescaledb" in (st.mode_reason or "")
        assert await migrations.require_current(conn) == storage_mode
    finally:
        await conn.close()


async def test_refuses_a_database_migrated_by_newer_code(migrated_dsn: str) -> None:
    conn = await connect(migrated_dsn)
    try:
        await conn.execute("INSERT INTO schema_migrations (version, name, checksum)"
                           " VALUES (9999, 'from_the_future', 'x')")
        await conn.commit()
        with pytest.raises(SchemaTooNewError, match="version 9999 but this trialwire only"):
            await migrations.migrate(conn)
        with pytest.raises(SchemaTooNewError):
            await migrations.require_current(conn)
    finally:
        await conn.close()


async def test_pending_and_changed_migrations_are_reported(migrated_dsn: str,
                                                           tmp_path: Path) -> None:
    directory = tmp_path / "migrations"
    shutil.copytree(migrations.MIGRATIONS_DIR, directory)
    first = sorted(directory.glob("0001_*.sql"))[0]
    first.write_text(first.read_text() + "\n-- edited after release\n")
    (directory / "0999_extra.sql").write_text("CREATE TABLE extra_thing (id int);")
    conn = await connect(migrated_dsn)
    try:
        st = await migrations.status(conn, directory=directory)
        assert st.changed == [1]
        assert [m.version for m in st.pending] == [999]
        applied = await migrations.migrate(conn, directory=directory)
        assert [m.version for m in applied] == [999]
        await conn.execute("SELECT count(*) FROM extra_thing")
    finally:
        await conn.close()


async def test_a_failing_migration_rolls_back_and_says_which(migrated_dsn: str,
                                                             tmp_path: Path) -> None:
    directory = tmp_path / "migrations"
    shutil.copytree(migrations.MIGRATIONS_DIR, directory)
    (directory / "0998_broken.sql").write_text(
        "CREATE TABLE half_done (id int); SELECT no_such_function();")
    conn = await connect(migrated_dsn)
    try:
        with pytest.raises(migrations.MigrationError, match="0998_broken failed"):
            await migrations.migrate(conn, directory=directory)
        await conn.rollback()
        cur = await conn.execute("SELECT to_regclass('half_done')")
        assert (await cur.fetchone())[0] is None
        assert (await migrations.status(conn, directory=directory)).pending[0].version == 998
    finally:
        await conn.close()
