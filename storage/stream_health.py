"""The stream workers' partitions as the monitoring page shows them: lag and stalls."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection

from storage.queries._rows import fetch_all


@dataclass(frozen=True, slots=True)
class PartitionHealth:
    topic: str
    partition: int
    lag: int
    stalled_s: float | None
    updated_at: datetime


async def record(conn: AsyncConnection[Any], *, app_id: str, now: datetime,
                 positions: dict[tuple[str, int], tuple[int, int]],
                 stalled: dict[tuple[str, int], float]) -> None:
    """Upsert this worker's partitions: (committed, lag) each, and the stalled ones."""
    if not positions:
        return
    async with conn.cursor() as cur:
        await cur.executemany(
            "INSERT INTO stream_partitions (app_id, topic, partition, committed, lag,"
            " stalled_s, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (app_id, topic, partition) DO UPDATE SET committed ="
            " excluded.committed, lag = excluded.lag, stalled_s = excluded.stalled_s,"
            " updated_at = excluded.updated_at",
            [(app_id, topic, partition, committed, lag, stalled.get((topic, partition)), now)
             for (topic, partition), (committed, lag) in positions.items()])


async def current(conn: AsyncConnection[Any], *, now: datetime,
                  fresh_within: timedelta = timedelta(minutes=2)) -> list[PartitionHealth]:
    """Partitions some worker reported on within ``fresh_within``, most behind first."""
    return await fetch_all(
        conn, PartitionHealth,
        "SELECT topic, partition, lag, stalled_s, updated_at FROM stream_partitions"
        " WHERE updated_at >= %s ORDER BY stalled_s DESC NULLS LAST, lag DESC",
        (now - fresh_within,))
