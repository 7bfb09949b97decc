"""Enrollments as the stream's validation holds them: which subject wears which device
through which gateway, over which period."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from storage.queries._rows import fetch_all


@dataclass(frozen=True, slots=True)
class Enrollment:
    study: str
    subject: str
    device_id: str
    gateway_id: str
    start: datetime | None  # None: unbounded
    end: datetime | None  # None: open-ended while active


async def all_enrollments(conn: AsyncConnection[Any]) -> list[Enrollment]:
    """Every enrollment of every study (they are few)."""
    return await fetch_all(
        conn, Enrollment,
        "SELECT study_code AS study, subject_code AS subject, device_id, gateway_id,"
        " lower(valid) AS start, upper(valid) AS \"end\" FROM enrollments")
