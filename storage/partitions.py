"""Native PostgreSQL range partitioning (the non-TimescaleDB path): one partition per day.

Partitions are created ahead of time (``ensure_ahead``) and on demand for any day a
batch touches (``ensure_for_range``), so backfilled data from last week finds a home.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from psycopg import AsyncConnection, sql

PARTITIONED_TABLES = ("readings", "waveform_segments")


def partition_name(table: str, day: date) -> str:
    return f"{table}_p{day:%Y%m%d}"


def days_between(start: datetime, end: datetime) -> list[date]:
    """Every UTC day that [start, end] touches."""
    first = start.astimezone(UTC).date()
    last = end.astimezone(UTC).date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


async def existing_days(conn: AsyncConnection[Any], table: str) -> set[date]:
    """Days that already have a partition of ``table``."""
    cur = await conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = %s::regclass",
        (table,),
    )
    days: set[date] = set()
    for (name,) in await cur.fetchall():
        stamp = str(name).rsplit("_p", 1)[-1]
        days.add(datetime.strptime(stamp, "%Y%m%d").replace(tzinfo=UTC).date())
    return days


async def create_days(conn: AsyncConnection[Any], table: str, days: Iterable[date]) -> int:
    """Create the daily partitions of ``table`` for ``days`` (idempotent); count created."""
    created = 0
    for day in sorted(set(days)):
        lower = datetime(day.year, day.month, day.day, tzinfo=UTC)
        upper = lower + timedelta(days=1)
        cur = await conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {part} PARTITION OF {parent}"
                " FOR VALUES FROM ({lo}) TO ({hi})"
            ).format(
                part=sql.Identifier(partition_name(table, day)),
                parent=sql.Identifier(table),
                lo=sql.Literal(lower),
                hi=sql.Literal(upper),
            )
        )
        created += 1 if cur.statusmessage == "CREATE TABLE" else 0
    return created


async def ensure_ahead(conn: AsyncConnection[Any], *, days_ahead: int,
                       now: datetime | None = None) -> int:
    """Create today's and the next ``days_ahead`` days' partitions of every partitioned table."""
    today = (now or datetime.now(UTC)).date()
    wanted = [today + timedelta(days=i) for i in range(-1, days_ahead + 1)]
    total = 0
    for table in PARTITIONED_TABLES:
        have = await existing_days(conn, table)
        total += await create_days(conn, table, [d for d in wanted if d not in have])
    return total
