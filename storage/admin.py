"""Server-level statements on a superuser connection: liveness and creating the platform's
database. Synchronous, for the embedded server's start-up (``deploy/services``)."""

from __future__ import annotations

from psycopg import Connection, sql


def ping(conn: Connection[object]) -> None:
    """Run ``SELECT 1``; raises whatever psycopg raises when the server does not answer."""
    conn.execute("SELECT 1")


def database_exists(conn: Connection[object], *, name: str) -> bool:
    cur = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
    return cur.fetchone() is not None


def create_database(conn: Connection[object], *, name: str) -> None:
    """``CREATE DATABASE`` (the connection must be in autocommit mode)."""
    conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def ensure_database(conn: Connection[object], *, name: str) -> bool:
    """Create database ``name`` unless it exists; True if it was created."""
    if database_exists(conn, name=name):
        return False
    create_database(conn, name=name)
    return True


def recreate_database(conn: Connection[object], *, name: str) -> None:
    """Drop database ``name`` (ending its sessions) and create it empty (autocommit)."""
    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    create_database(conn, name=name)
