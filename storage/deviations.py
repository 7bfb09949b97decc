"""Daily completeness per subject and device, and the protocol deviations derived from it.

A subject's day is their local day (the time zone of their site, or their own from a
given instant: ``subject_zone_periods``), 23 or 25 hours long across a DST change: wear
minutes of its best-worn device, completeness averaged over its devices with an expected
rate. Days below the study's ``min_daily_wear_minutes`` or
``min_daily_completeness`` become ``protocol_deviations`` (upserted, so re-running is safe).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from psycopg import AsyncConnection

from storage.queries._rows import fetch_all, fetch_one


@dataclass(frozen=True, slots=True)
class Deviation:
    id: int
    subject: str
    day: date
    kind: str  # wear_time or completeness
    observed: float
    required: float
    status: str  # open or acknowledged


_DAILY = """
SELECT c.subject_code, c.site_code, c.device_id, c.day,
       sum(c.wear), sum(c.enrolled), sum(c.received), sum(c.expected),
       sum(c.silent), sum(c.offline), sum(c.backlog)
  FROM (SELECT h.subject_code, s.site_code, h.device_id,
               -- the participant's local day of the hour (the zone in force at its start)
               (h.hour AT TIME ZONE p.zone)::date AS day, h.wear, h.enrolled, h.received,
               h.expected, h.silent, h.offline, h.backlog
          FROM (SELECT subject_code, device_id, hour,
                       -- minutes are per device and hour: the same on each of its metric rows
                       max(wear_minutes) AS wear, max(enrolled_minutes) AS enrolled,
                       sum(least(received, expected)) AS received, sum(expected) AS expected,
                       max(device_silent_minutes) AS silent,
                       max(gateway_offline_minutes) AS offline,
                       max(upload_backlog_minutes) AS backlog
                  FROM completeness_hourly WHERE study_code = %(study)s
                   -- a local day lies within a UTC day either side of the same date
                   AND hour >= %(start)s::date - 1 AND hour < %(end)s::date + 2
                   AND (%(subject)s::text IS NULL OR subject_code = %(subject)s)
                 GROUP BY subject_code, device_id, hour) h
          JOIN subjects s ON s.code = h.subject_code
          JOIN subject_zone_periods p ON p.subject_code = h.subject_code
                                     AND p.valid @> h.hour) c
 WHERE c.day BETWEEN %(start)s AND %(end)s
 GROUP BY 1, 2, 3, 4 ORDER BY 4, 1, 3
"""


async def daily(conn: AsyncConnection[Any], *, study: str, start: date, end: date,
                subject: str | None = None) -> list[dict[str, Any]]:
    """Per subject, device and day in [start, end]: wear minutes, completeness (received /
    expected samples, capped per metric-hour) and the minutes of each kind of gap."""
    cur = await conn.execute(_DAILY, {"study": study, "start": start, "end": end,
                                      "subject": subject})
    out = []
    for (subj, site, device, day, wear, enrolled, received, expected, silent, offline,
         backlog) in await cur.fetchall():
        out.append({"subject": subj, "site": site, "device_id": device, "day": day,
                    "wear_minutes": int(wear), "enrolled_minutes": int(enrolled),
                    "completeness": round(float(received) / float(expected), 4) if expected else None,
                    "device_silent_minutes": int(silent), "gateway_offline_minutes": int(offline),
                    "upload_backlog_minutes": int(backlog)})
    return out


def per_subject(days: list[dict[str, Any]]) -> dict[tuple[str, date], dict[str, float | None]]:
    """Pure: a subject's day: wear of its best-worn device; completeness over all devices
    that have an expected rate (weighted by their expected samples)."""
    out: dict[tuple[str, date], dict[str, Any]] = {}
    for d in days:
        entry = out.setdefault((d["subject"], d["day"]), {"wear_minutes": 0, "parts": []})
        entry["wear_minutes"] = max(entry["wear_minutes"], d["wear_minutes"])
        if d["completeness"] is not None:
            entry["parts"].append(d["completeness"])
    return {k: {"wear_minutes": v["wear_minutes"],
                "completeness": (sum(v["parts"]) / len(v["parts"])) if v["parts"] else None}
            for k, v in out.items()}


async def detect(conn: AsyncConnection[Any], *, study: str, start: date, end: date) -> int:
    """Record the days in [start, end] below the study's minimums; returns new deviations."""
    row = await (await conn.execute("SELECT settings FROM studies WHERE code = %s",
                                    (study,))).fetchone()
    settings = (row[0] if row else None) or {}
    minimums = {"wear_time": settings.get("min_daily_wear_minutes"),
                "completeness": settings.get("min_daily_completeness")}
    if all(v is None for v in minimums.values()):
        return 0
    created = 0
    days = per_subject(await daily(conn, study=study, start=start, end=end))
    for (subject, day), figures in sorted(days.items()):
        observed = {"wear_time": figures["wear_minutes"], "completeness": figures["completeness"]}
        for kind, required in minimums.items():
            value = observed[kind]
            if required is None or value is None or value >= float(required):
                continue
            # A recomputed day (late data arrived) updates the figure and so re-exports it.
            cur = await conn.execute(
                "INSERT INTO protocol_deviations (study_code, subject_code, day, kind, observed,"
                " required) VALUES (%s, %s, %s, %s, %s, %s)"
                " ON CONFLICT (study_code, subject_code, day, kind) DO UPDATE"
                " SET observed = EXCLUDED.observed, required = EXCLUDED.required,"
                " updated_at = now()"
                " WHERE (protocol_deviations.observed, protocol_deviations.required)"
                " IS DISTINCT FROM (EXCLUDED.observed, EXCLUDED.required)"
                " RETURNING xmax = 0",
                (study, subject, day, kind, value, float(required)))
            row = await cur.fetchone()
            created += bool(row and row[0])
    return created


async def detect_recent(conn: AsyncConnection[Any], *, study: str, today: date,
                        days: int = 366) -> int:
    """Detect over the ``days`` complete days before ``today`` (today is still filling)."""
    yesterday = today - timedelta(days=1)
    return await detect(conn, study=study, start=yesterday - timedelta(days=days - 1),
                        end=yesterday)


async def listed(conn: AsyncConnection[Any], *, study: str,
                 status: str | None = None) -> list[Deviation]:
    """The study's recorded deviations (only those in ``status`` if given), by day and subject."""
    return await fetch_all(
        conn, Deviation,
        "SELECT id, subject_code AS subject, day, kind, observed, required, status"
        " FROM protocol_deviations WHERE study_code = %s AND (%s::text IS NULL OR status = %s)"
        " ORDER BY day, subject_code", (study, status, status))


async def acknowledge(conn: AsyncConnection[Any], *, study: str,
                      deviation_id: int) -> Deviation | None:
    """Mark an open deviation acknowledged; None if it is not an open deviation of ``study``."""
    return await fetch_one(
        conn, Deviation,
        "UPDATE protocol_deviations SET status = 'acknowledged', updated_at = now()"
        " WHERE id = %s AND study_code = %s AND status = 'open'"
        " RETURNING id, subject_code AS subject, day, kind, observed, required, status",
        (deviation_id, study))
