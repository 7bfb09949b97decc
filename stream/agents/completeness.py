"""Keeps ``completeness_hourly`` current: the agents mark the hours they touched (event
time of stored readings, gateway heartbeats) and a timer recomputes those hours."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from storage.completeness import refresh_hours
from stream.agents.database import Database

logger = logging.getLogger(__name__)


class CompletenessRefresher:
    def __init__(self) -> None:
        self._dirty: set[datetime] = set()

    def touch(self, first: datetime, last: datetime) -> None:
        hour = first.replace(minute=0, second=0, microsecond=0)
        while hour <= last:
            self._dirty.add(hour)
            hour += timedelta(hours=1)

    async def refresh(self, db: Database) -> int:
        """Recompute the touched hours; on a database error they stay marked for next time."""
        if db.pool is None or not self._dirty:
            return 0
        hours, self._dirty = self._dirty, set()
        try:
            async with db.pool.connection() as conn:
                return await refresh_hours(conn, hours)
        except Exception as exc:
            self._dirty |= hours
            logger.warning("completeness refresh failed (%s); will retry", exc)
            return 0
