"""Run one query and build typed rows: the few lines every query module would repeat."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from psycopg import AsyncConnection, sql
from psycopg.rows import class_row

T = TypeVar("T")
Query = str | sql.Composed
Params = Sequence[Any] | Mapping[str, Any] | None


async def fetch_all(conn: AsyncConnection[Any], row: type[T], query: Query,
                    params: Params = None) -> list[T]:
    """Every row of ``query`` as ``row(**columns)`` (column names are the field names)."""
    cur = conn.cursor(row_factory=class_row(row))
    await cur.execute(query, params)
    return await cur.fetchall()


async def fetch_one(conn: AsyncConnection[Any], row: type[T], query: Query,
                    params: Params = None) -> T | None:
    """The first row of ``query`` as ``row(**columns)``, or None."""
    cur = conn.cursor(row_factory=class_row(row))
    await cur.execute(query, params)
    return await cur.fetchone()


async def exists(conn: AsyncConnection[Any], query: Query, params: Params = None) -> bool:
    """Whether ``query`` returns a row."""
    cur = await conn.execute(query, params)
    return await cur.fetchone() is not None
