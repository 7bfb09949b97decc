"""TimescaleDB only: drop the (time DESC) index ``create_hypertable`` built by default.

Migration 0002 created the hypertables with TimescaleDB's default index on the time
column, a second B-tree per table against migration 0010's one-index design (about
-30 % COPY throughput). ``storage.timescale.make_hypertables`` now passes
``create_default_indexes => false``, so new databases never get it; this removes it
from databases migrated before. The partitioned mode never had one: nothing to do.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from storage import timescale
from storage.migrate import MigrationContext


async def upgrade(conn: AsyncConnection[Any], ctx: MigrationContext) -> None:
    if ctx.mode == "timescaledb":
        await timescale.drop_default_time_indexes(conn)
