"""Inputs of the sponsor analytics (``api/analytics.py``), per subject and local day
(``subject_zone_periods``: the site's zone, or the subject's own from a given instant): the
study's subjects with their grouping, heart-rate sums from the minute rollup and glucose
readings. Rows carry only pseudonymous subject codes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from psycopg import AsyncConnection

from storage.queries._rows import fetch_all


@dataclass(frozen=True, slots=True)
class SubjectGroup:
    subject: str
    site: str
    arm: str  # '' when the subject has no arm


@dataclass(frozen=True, slots=True)
class DailySum:
    """Sum and count of a metric's values over a subject's day."""

    subject: str
    day: date
    sum: float
    count: int


@dataclass(frozen=True, slots=True)
class DailyValue:
    """One reading's value, on its subject's local day."""

    subject: str
    day: date
    value: float


async def subject_groups(conn: AsyncConnection[Any], *, study: str) -> list[SubjectGroup]:
    return await fetch_all(
        conn, SubjectGroup,
        "SELECT code AS subject, site_code AS site, coalesce(arm, '') AS arm FROM subjects"
        " WHERE study_code = %s", (study,))


async def daily_heart_rate(conn: AsyncConnection[Any], *, study: str, start: date,
                           end: date) -> list[DailySum]:
    """Heart-rate sum and count per subject and day in [start, end], from ``readings_1m``."""
    return await fetch_all(
        conn, DailySum,
        "SELECT * FROM (SELECT r.subject_code AS subject,"
        " (r.bucket AT TIME ZONE p.zone)::date AS day,"
        " sum(r.sum) AS sum, sum(r.count)::bigint AS count"
        " FROM readings_1m r JOIN subjects s ON s.code = r.subject_code"
        " JOIN subject_zone_periods p ON p.subject_code = r.subject_code AND p.valid @> r.bucket"
        " WHERE s.study_code = %(study)s AND r.metric = 'heart_rate'"
        " AND r.bucket >= %(start)s::date - 1 AND r.bucket < %(end)s::date + 2"
        " GROUP BY 1, 2) d WHERE d.day BETWEEN %(start)s AND %(end)s",
        {"study": study, "start": start, "end": end})


async def glucose_values(conn: AsyncConnection[Any], *, study: str, start: date,
                         end: date) -> list[DailyValue]:
    """Every glucose reading of the study's subjects on the days [start, end]."""
    return await fetch_all(
        conn, DailyValue,
        "SELECT * FROM (SELECT r.subject_code AS subject,"
        " (r.time AT TIME ZONE p.zone)::date AS day, r.value"
        " FROM readings r JOIN subjects s ON s.code = r.subject_code"
        " JOIN subject_zone_periods p ON p.subject_code = r.subject_code AND p.valid @> r.time"
        " WHERE s.study_code = %(study)s AND r.metric = 'glucose'"
        " AND r.time >= %(start)s::date - 1 AND r.time < %(end)s::date + 2) d"
        " WHERE d.day BETWEEN %(start)s AND %(end)s",
        {"study": study, "start": start, "end": end})
