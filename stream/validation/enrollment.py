"""Enrollment: is this device worn by this subject, through this gateway, at that time?

The registry's ``enrollments`` rows are loaded into memory (they are few and change
rarely) and reloaded when a check fails and the copy is older than ``max_age_s``, so a
new enrollment is honoured within seconds without a query per envelope.
"""

from __future__ import annotations

import time
from datetime import datetime

from psycopg import AsyncConnection

from storage.queries.enrollment import Enrollment, all_enrollments


def check(enrollments: list[Enrollment], *, subject: str, gateway_id: str,
          first: datetime, last: datetime) -> str | None:
    """Pure: why readings of one device from ``first`` to ``last`` are not covered by one of
    the device's ``enrollments`` (all for that device), or None when they are."""
    if not enrollments:
        return "device is not enrolled"
    for e in enrollments:
        if (e.start is None or e.start <= first) and (e.end is None or last < e.end):
            if e.subject != subject:
                return f"device is enrolled to another subject at {first.isoformat()}"
            if e.gateway_id != gateway_id:
                return f"device is enrolled through gateway {e.gateway_id}, not {gateway_id}"
            return None
    return (f"no enrollment of the device covers {first.isoformat()}"
            f"..{last.isoformat()}")


class EnrollmentIndex:
    """The registry's enrollments by device, refreshed on a miss when stale."""

    def __init__(self, max_age_s: float = 5.0) -> None:
        self.max_age_s = max_age_s
        self._by_device: dict[str, list[Enrollment]] = {}
        self._study_of: dict[str, str] = {}
        self._loaded_at: float | None = None

    @property
    def stale(self) -> bool:
        return self._loaded_at is None or time.monotonic() - self._loaded_at > self.max_age_s

    async def load(self, conn: AsyncConnection[object]) -> None:
        by_device: dict[str, list[Enrollment]] = {}
        study_of: dict[str, str] = {}
        for e in await all_enrollments(conn):
            by_device.setdefault(e.device_id, []).append(e)
            study_of[e.subject] = e.study
        self._by_device, self._study_of = by_device, study_of
        self._loaded_at = time.monotonic()

    def check(self, *, device_id: str, subject: str, gateway_id: str, first: datetime,
              last: datetime) -> str | None:
        return check(self._by_device.get(device_id, []), subject=subject,
                     gateway_id=gateway_id, first=first, last=last)

    def study_of(self, subject: str) -> str | None:
        return self._study_of.get(subject)
