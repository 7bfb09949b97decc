"""The study overview the monitoring page opens with: one row per subject with its open
flags, its gateway's last heartbeat, its devices' link state and its completeness over
the last 24 hours. Latest vitals come from ``queries.readings.latest_readings``. Also the
study's backlog (open flags, readings queued on gateways) for ``trialwire up``'s status line.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection


@dataclass(frozen=True, slots=True)
class GatewayState:
    """A gateway as its newest heartbeat (``gateway_heartbeats``) describes it."""

    id: str
    last_heartbeat: datetime | None
    broker_reachable: bool | None
    spool_items: int | None
    devices: dict[str, Any]  # device_id -> {connected, last_reading_at}


@dataclass(frozen=True, slots=True)
class SubjectOverview:
    code: str
    site: str
    arm: str | None
    status: str
    open_flags: int  # open or escalated
    gateway: GatewayState | None
    completeness_24h: float | None  # received / expected samples, None without data


# One pass per subject: its open flags, the gateway of its newest active enrollment with
# that gateway's newest heartbeat, and the last 24 h of completeness_hourly.
_OVERVIEW = """
SELECT s.code, s.site_code, s.arm, s.status,
       (SELECT count(*) FROM flags f
         WHERE f.subject_code = s.code AND f.status IN ('open', 'escalated')),
       g.gateway_id, hb.at, hb.broker_reachable, hb.spool_items, hb.devices,
       (SELECT sum(c.received) / NULLIF(sum(c.expected), 0) FROM completeness_hourly c
         WHERE c.subject_code = s.code AND c.hour >= %(now)s - interval '24 hours'
           AND c.hour < %(now)s)
  FROM subjects s
  LEFT JOIN LATERAL (SELECT e.gateway_id FROM enrollments e
                      WHERE e.subject_code = s.code AND e.valid @> %(now)s
                      ORDER BY lower(e.valid) DESC LIMIT 1) g ON true
  LEFT JOIN LATERAL (SELECT h.at, h.broker_reachable, h.spool_items, h.devices
                       FROM gateway_heartbeats h WHERE h.gateway_id = g.gateway_id
                      ORDER BY h.at DESC LIMIT 1) hb ON true
 WHERE s.study_code = %(study)s
 ORDER BY s.site_code, s.code
"""


async def study_overview(conn: AsyncConnection[Any], *, study: str,
                         now: datetime) -> list[SubjectOverview]:
    """Every subject of ``study`` as the monitoring overview shows it at ``now``."""
    cur = await conn.execute(_OVERVIEW, {"study": study, "now": now})
    found = []
    for (code, site, arm, status, open_flags, gateway_id, at, reachable, spool, devices,
         completeness) in await cur.fetchall():
        gateway = None if gateway_id is None else GatewayState(
            id=gateway_id, last_heartbeat=at, broker_reachable=reachable,
            spool_items=spool, devices=devices or {})
        found.append(SubjectOverview(
            code=code, site=site, arm=arm, status=status, open_flags=int(open_flags),
            gateway=gateway,
            completeness_24h=None if completeness is None else float(completeness)))
    return found


@dataclass(frozen=True, slots=True)
class StudyBacklog:
    """What still waits in a study: flags to review and readings queued on its gateways."""

    open_flags: int  # open or escalated
    queued_on_gateways: int  # spool items in each gateway's newest heartbeat, summed


_BACKLOG = """
SELECT (SELECT count(*) FROM flags WHERE study_code = %(study)s
          AND status IN ('open', 'escalated')) AS open_flags,
       (SELECT coalesce(sum(h.spool_items), 0) FROM gateways g
          CROSS JOIN LATERAL (SELECT spool_items FROM gateway_heartbeats
                               WHERE gateway_id = g.id ORDER BY at DESC LIMIT 1) h
         WHERE g.study_code = %(study)s) AS queued_on_gateways
"""


async def study_backlog(conn: AsyncConnection[Any], *, study: str) -> StudyBacklog:
    cur = await conn.execute(_BACKLOG, {"study": study})
    row = await cur.fetchone()
    flags, queued = row if row else (0, 0)
    return StudyBacklog(open_flags=int(flags), queued_on_gateways=int(queued))
