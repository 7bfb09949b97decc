"""Hourly data completeness per subject, device and metric, with gap attribution.

Expected samples come from the device catalog's nominal rates (``expected_per_hour``)
over the minutes the device was enrolled in that hour. A minute of the hour without any
reading (or ECG segment) from the device is attributed, using the gateway's heartbeats
(status messages) around it:

- ``gateway_offline``: no heartbeat from the gateway from 30 s before the minute to 30 s
  after it (status intervals are 5-30 s);
- ``upload_backlog``: the last heartbeat within the minute (else the one nearest to its
  end) says the gateway received readings from the device at or after the minute's
  start: they are on their way (spool);
- ``device_silent``: the gateway was online but had nothing from the device.

Recomputing an hour is idempotent (upsert), so a backlog minute becomes received once its
readings arrive.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from devices.catalog import CATALOG

_COMPUTE = """
WITH params AS (SELECT %(hour)s::timestamptz AS h),
rates AS (
    SELECT * FROM unnest(%(types)s::text[], %(metrics)s::text[], %(rates)s::float8[])
        AS r(device_type, metric, per_hour)
),
enrolled AS (
    SELECT e.study_code, e.subject_code, e.device_id, e.gateway_id, d.device_type,
           greatest(coalesce(lower(e.valid), p.h), p.h) AS from_t,
           least(coalesce(upper(e.valid), p.h + interval '1 hour'), p.h + interval '1 hour') AS to_t
      FROM enrollments e JOIN devices d ON d.id = e.device_id, params p
     WHERE e.valid && tstzrange(p.h, p.h + interval '1 hour')
),
minutes AS (
    SELECT en.*, m
      FROM enrolled en,
           generate_series(date_trunc('minute', en.from_t), en.to_t - interval '1 minute',
                           interval '1 minute') AS m
),
worn AS (
    SELECT DISTINCT device_id, bucket AS m FROM readings_1m, params p
     WHERE bucket >= p.h AND bucket < p.h + interval '1 hour'
    UNION
    SELECT DISTINCT device_id, date_trunc('minute', time) FROM waveform_segments, params p
     WHERE time >= p.h AND time < p.h + interval '1 hour'
),
attributed AS (
    SELECT mi.study_code, mi.subject_code, mi.device_id, mi.device_type,
           count(*) AS enrolled_minutes,
           count(*) FILTER (WHERE w.m IS NOT NULL) AS wear,
           count(*) FILTER (WHERE w.m IS NULL AND hb.at IS NULL) AS offline,
           count(*) FILTER (WHERE w.m IS NULL AND hb.at IS NOT NULL
                              AND (hb.devices -> mi.device_id ->> 'last_reading_at')::timestamptz
                                  >= mi.m) AS backlog
      FROM minutes mi
      LEFT JOIN worn w ON w.device_id = mi.device_id AND w.m = mi.m
      LEFT JOIN LATERAL (
           SELECT g.at, g.devices FROM gateway_heartbeats g
            WHERE g.gateway_id = mi.gateway_id
              AND g.at >= mi.m - interval '30 seconds' AND g.at < mi.m + interval '90 seconds'
            -- the last one within the minute, else the one nearest to its end
            ORDER BY (g.at >= mi.m AND g.at < mi.m + interval '1 minute') DESC,
                     abs(extract(epoch FROM g.at - (mi.m + interval '1 minute'))) LIMIT 1
           ) hb ON true
     GROUP BY 1, 2, 3, 4
),
received AS (
    SELECT device_id, metric, sum(count) AS n FROM readings_1m, params p
     WHERE bucket >= p.h AND bucket < p.h + interval '1 hour' GROUP BY 1, 2
    UNION ALL
    SELECT device_id, 'ecg_samples', sum(cardinality(samples)) FROM waveform_segments, params p
     WHERE time >= p.h AND time < p.h + interval '1 hour' GROUP BY 1
)
INSERT INTO completeness_hourly AS c (
    subject_code, device_id, metric, hour, study_code, expected, received, wear_minutes,
    enrolled_minutes, device_silent_minutes, gateway_offline_minutes, upload_backlog_minutes)
SELECT a.subject_code, a.device_id, r.metric, p.h, a.study_code,
       r.per_hour * a.enrolled_minutes / 60.0, coalesce(rc.n, 0), a.wear, a.enrolled_minutes,
       a.enrolled_minutes - a.wear - a.offline - a.backlog, a.offline, a.backlog
  FROM attributed a
  JOIN rates r ON r.device_type = a.device_type
  LEFT JOIN received rc ON rc.device_id = a.device_id AND rc.metric = r.metric, params p
ON CONFLICT (subject_code, device_id, metric, hour) DO UPDATE SET
    expected = excluded.expected, received = excluded.received,
    wear_minutes = excluded.wear_minutes, enrolled_minutes = excluded.enrolled_minutes,
    device_silent_minutes = excluded.device_silent_minutes,
    gateway_offline_minutes = excluded.gateway_offline_minutes,
    upload_backlog_minutes = excluded.upload_backlog_minutes, computed_at = now()
"""


def _rates() -> tuple[list[str], list[str], list[float]]:
    types, metrics, rates = [], [], []
    for device_type, spec in CATALOG.items():
        for metric, per_hour in spec.expected_per_hour.items():
            types.append(str(device_type))
            metrics.append(metric)
            rates.append(float(per_hour))
    return types, metrics, rates


async def refresh_hours(conn: AsyncConnection[Any], hours: Iterable[datetime]) -> int:
    """Recompute the given hours (each truncated to the hour); returns rows written."""
    types, metrics, rates = _rates()
    written = 0
    for hour in sorted({h.replace(minute=0, second=0, microsecond=0) for h in hours}):
        cur = await conn.execute(_COMPUTE, {"hour": hour, "types": types, "metrics": metrics,
                                            "rates": rates})
        written += cur.rowcount
    return written


async def record_heartbeat(conn: AsyncConnection[Any], *, gateway_id: str, at: datetime,
                           subject: str, broker_reachable: bool, spool_items: int,
                           unpersisted: int, devices: str) -> None:
    """Store one gateway status as a heartbeat (``devices``: JSON text); repeats are no-ops."""
    await conn.execute(
        "INSERT INTO gateway_heartbeats (gateway_id, at, subject_code, broker_reachable,"
        " spool_items, unpersisted, devices) VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb)"
        " ON CONFLICT DO NOTHING",
        (gateway_id, at, subject, broker_reachable, spool_items, unpersisted, devices))
