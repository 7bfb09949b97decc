"""The study overview for remote monitoring: per subject its latest vitals, open flags,
gateway and device status, and completeness over the last 24 hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from api.auth.roles import Principal, Role
from api.deps import Conn, requires
from api.routes.readings import Reading
from storage import access_log, stream_health
from storage.queries.overview import study_overview
from storage.queries.readings import latest_readings

router = APIRouter(prefix="/v1/studies/{study}", tags=["monitoring"])

Monitor = Annotated[Principal, Depends(requires(Role.ADMIN, Role.MONITOR))]

# The vitals the overview shows; the subject page charts the same ones.
VITALS = ("heart_rate", "glucose", "spo2", "body_temperature")
# A gateway reports status every 30 s by default (gateway/config.py); past this it counts
# as offline.
ONLINE_WITHIN = timedelta(minutes=5)


class GatewayOut(BaseModel):
    id: str
    online: bool
    last_heartbeat: datetime | None
    broker_reachable: bool | None
    spool_items: int | None
    devices: dict[str, Any]


class SubjectRow(BaseModel):
    code: str
    site: str
    arm: str | None
    status: str
    open_flags: int
    latest: dict[str, Reading]
    gateway: GatewayOut | None
    completeness_24h: float | None


class PartitionOut(BaseModel):
    """A stream partition some worker reported on lately (platform-wide, no subject data)."""

    topic: str
    partition: int
    lag: int  # records not yet committed by the worker
    stalled_s: float | None  # records waiting and no progress for this long; None: moving


class Overview(BaseModel):
    study: str
    at: datetime
    subjects: list[SubjectRow]
    # The data pipeline's partitions, most behind first: the page warns when one has
    # stalled (the worker restarts itself after stall_restart_s) or lags.
    pipeline: list[PartitionOut] = []


@router.get("/overview")
async def overview(study: str, conn: Conn, who: Monitor) -> Overview:
    """One row per subject of the study, ordered by site and subject code."""
    now = datetime.now(UTC)
    rows = await study_overview(conn, study=study, now=now)
    await access_log.record(conn, token_id=who.token_id, role=who.role, study=study,
                            action="overview", details={"subjects": len(rows)})
    latest: dict[str, dict[str, Reading]] = {}
    for r in await latest_readings(conn, subjects=[s.code for s in rows], metrics=VITALS):
        latest.setdefault(r.subject, {})[r.metric] = Reading(
            time=r.time, value=r.value, unit=r.unit, device_id=r.device_id, seq=r.seq,
            quality=r.quality)
    pipeline = [PartitionOut(topic=p.topic, partition=p.partition, lag=p.lag,
                             stalled_s=p.stalled_s)
                for p in await stream_health.current(conn, now=now)]
    return Overview(study=study, at=now, pipeline=pipeline, subjects=[SubjectRow(
        code=s.code, site=s.site, arm=s.arm, status=s.status, open_flags=s.open_flags,
        latest=latest.get(s.code, {}), completeness_24h=s.completeness_24h,
        gateway=None if s.gateway is None else GatewayOut(
            id=s.gateway.id,
            online=(s.gateway.last_heartbeat is not None
                    and now - s.gateway.last_heartbeat <= ONLINE_WITHIN),
            last_heartbeat=s.gateway.last_heartbeat,
            broker_reachable=s.gateway.broker_reachable, spool_items=s.gateway.spool_items,
            devices=s.gateway.devices))
        for s in rows])
