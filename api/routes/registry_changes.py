"""Reading one registry record and changing it: studies, sites, subjects, devices and
gateways (``PATCH``, the fields each allows), and a device's enrollment ended or moved to
another subject at one instant (no gap, no overlap). Every change needs a reason and is
one audit entry with who, when, the old and the new values."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from api.auth.roles import Principal, Role
from api.deps import Conn, requires
from api.time_zones import ZoneName
from storage import registry_changes
from storage.queries import registry as registry_queries

router = APIRouter(prefix="/v1/studies/{study}", tags=["registry"])

Reader = Annotated[Principal, Depends(requires(Role.ADMIN, Role.MONITOR, Role.EDC, Role.ANALYST))]
Admin = Annotated[Principal, Depends(requires(Role.ADMIN))]

CODE = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
Code = Annotated[str, Field(pattern=CODE)]
Reason = Annotated[str, Field(min_length=1, max_length=500, pattern=r"^[^\x00]*$")]
Text = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00]*$")]


class Change(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Reason

    def fields(self) -> dict[str, Any]:
        """The fields given (``None`` clears an optional one), by column name."""
        given = self.model_dump(exclude_unset=True, exclude={"reason"})
        return {registry_changes.column_of(k): v for k, v in given.items()}


class StudyChange(Change):
    name: Text | None = None
    withdrawal_policy: Literal["retain", "delete"] | None = None


class SiteChange(Change):
    name: Text | None = None
    time_zone: ZoneName | None = None  # its subjects' local days, unless they have their own


class SubjectChange(Change):
    arm: Annotated[str, Field(max_length=100, pattern=r"^[^\x00]*$")] | None = None
    site: Code | None = None


class DeviceChange(Change):
    model: Annotated[str, Field(max_length=100, pattern=r"^[^\x00]*$")] | None = None
    serial: Annotated[str, Field(max_length=64, pattern=r"^[^\x00]*$")] | None = None
    firmware: Annotated[str, Field(max_length=64, pattern=r"^[^\x00]*$")] | None = None
    mac: Annotated[str, Field(pattern=r"^([0-9A-F]{2}:){5}[0-9A-F]{2}$")] | None = None


class GatewayChange(Change):
    site: Code | None = None
    status: Literal["provisioned", "active", "retired"] | None = None


class Changed(BaseModel):
    entity: str
    key: str
    old: dict[str, Any]
    new: dict[str, Any]


async def _change(conn: Conn, who: Principal, *, entity: str, study: str, key: str,
                  change: Change) -> Changed:
    fields = change.fields()
    required = {"name", "withdrawal_policy", "status", "time_zone"}  # NOT NULL columns
    if any(fields.get(c, "") is None for c in required):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"{', '.join(sorted(c for c in required if c in fields))} cannot be null")
    try:
        async with conn.transaction():
            done = await registry_changes.update_audited(
                conn, entity=entity, study=study, key=key, changes=fields,
                actor=_actor(who, change.reason))
    except (psycopg.errors.ForeignKeyViolation, psycopg.errors.UniqueViolation,
            psycopg.errors.CheckViolation) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"refused by the registry: {str(exc).splitlines()[0]}") from None
    if done is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no {entity} {key} in study {study}")
    old, new = done
    return Changed(entity=entity, key=key, old=old, new=new)


def _actor(who: Principal, reason: str) -> registry_changes.Actor:
    return registry_changes.Actor(who.token_id, who.role, reason)


async def _one(conn: Conn, *, entity: str, study: str, key: str) -> dict[str, Any]:
    found = await registry_changes.read(conn, entity=entity, study=study, key=key)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no {entity} {key} in study {study}")
    return {registry_changes.field_of(k): v for k, v in found.items()}


@router.patch("")
async def update_study(study: str, change: StudyChange, conn: Conn, who: Admin) -> Changed:
    """Rename the study, or set its withdrawal policy (retain | delete)."""
    return await _change(conn, who, entity="study", study=study, key=study, change=change)


@router.get("/sites/{site}")
async def get_site(study: str, site: str, conn: Conn, _: Reader) -> dict[str, Any]:
    return await _one(conn, entity="site", study=study, key=site)


@router.patch("/sites/{site}")
async def update_site(study: str, site: str, change: SiteChange, conn: Conn,
                      who: Admin) -> Changed:
    return await _change(conn, who, entity="site", study=study, key=site, change=change)


@router.get("/subjects/{subject}")
async def get_subject(study: str, subject: str, conn: Conn, _: Reader) -> dict[str, Any]:
    """The subject's site and arm (its status: ``…/status``, the list)."""
    return await _one(conn, entity="subject", study=study, key=subject)


@router.patch("/subjects/{subject}")
async def update_subject(study: str, subject: str, change: SubjectChange, conn: Conn,
                         who: Admin) -> Changed:
    """Change the subject's arm or site (its status has its own route, ``…/status``)."""
    return await _change(conn, who, entity="subject", study=study, key=subject, change=change)


@router.get("/devices/{device_id}")
async def get_device(study: str, device_id: str, conn: Conn, _: Reader) -> dict[str, Any]:
    return await _one(conn, entity="device", study=study, key=device_id)


@router.patch("/devices/{device_id}")
async def update_device(study: str, device_id: str, change: DeviceChange, conn: Conn,
                        who: Admin) -> Changed:
    return await _change(conn, who, entity="device", study=study, key=device_id, change=change)


@router.get("/gateways/{gateway_id}")
async def get_gateway(study: str, gateway_id: str, conn: Conn, _: Reader) -> dict[str, Any]:
    return await _one(conn, entity="gateway", study=study, key=gateway_id)


@router.patch("/gateways/{gateway_id}")
async def update_gateway(study: str, gateway_id: str, change: GatewayChange, conn: Conn,
                         who: Admin) -> Changed:
    """Move the gateway to another site, or retire it (ingest then refuses it at once; its
    spool keeps the data)."""
    return await _change(conn, who, entity="gateway", study=study, key=gateway_id,
                         change=change)


class EnrollmentOut(BaseModel):
    id: int
    subject: str
    device_id: str
    gateway_id: str
    start: datetime | None
    end: datetime | None


class EndEnrollment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at: AwareDatetime | None = None  # default: now
    reason: Reason


class MoveDevice(EndEnrollment):
    subject: Code
    gateway_id: Code


@router.get("/enrollments")
async def list_enrollments(study: str, conn: Conn, _: Reader, device: str | None = None,
                           subject: str | None = None) -> list[EnrollmentOut]:
    """Which device fed which subject through which gateway, and when ([start, end))."""
    rows = await registry_changes.enrollments(conn, study=study, device_id=device,
                                              subject=subject)
    return [EnrollmentOut.model_validate(r, from_attributes=True) for r in rows]


@router.post("/devices/{device_id}/end-enrollment")
async def end_enrollment(study: str, device_id: str, change: EndEnrollment, conn: Conn,
                         who: Admin) -> EnrollmentOut:
    """End the device's enrollment at ``at``: nothing it measures from then on is the
    subject's. 404 if no enrollment of the device covers ``at``."""
    at = change.at or datetime.now(UTC)
    async with conn.transaction():
        ended = await registry_changes.end_enrollment_audited(
            conn, study=study, device_id=device_id, at=at, actor=_actor(who, change.reason))
    if ended is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"no enrollment of device {device_id} in study {study} "
                            f"covers {at.isoformat()}")
    return EnrollmentOut(id=ended.id, subject=ended.subject, device_id=device_id,
                         gateway_id=ended.gateway_id, start=ended.start, end=at)


@router.post("/devices/{device_id}/move", status_code=status.HTTP_201_CREATED)
async def move_device(study: str, device_id: str, move: MoveDevice, conn: Conn,
                      who: Admin) -> EnrollmentOut:
    """Give the device to another subject from ``at`` on: its current enrollment ends at
    ``at`` and the new one starts there, in one transaction (no gap, no overlap)."""
    at = move.at or datetime.now(UTC)
    for label, ok in (("subject", await registry_queries.subject_in_study(
                          conn, study=study, subject=move.subject)),
                      ("device", await registry_queries.device_in_study(
                          conn, study=study, device_id=device_id)),
                      ("gateway", await registry_queries.gateway_in_study(
                          conn, study=study, gateway_id=move.gateway_id))):
        if not ok:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                f"{label} is not in study {study}")
    try:
        async with conn.transaction():  # a conflict rolls the ended enrollment back too
            _, new_id = await registry_changes.move_device_audited(
                conn, study=study, device_id=device_id, at=at, subject=move.subject,
                gateway_id=move.gateway_id, actor=_actor(who, move.reason))
    except registry_changes.EnrollmentConflict as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    return EnrollmentOut(id=new_id, subject=move.subject, device_id=device_id,
                         gateway_id=move.gateway_id, start=at, end=None)



class ZoneChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    zone: ZoneName
    since: AwareDatetime | None = None  # default: now
    reason: Reason


class ZonePeriodOut(BaseModel):
    zone: str
    start: datetime | None
    end: datetime | None


@router.get("/subjects/{subject}/time-zones")
async def subject_zones(study: str, subject: str, conn: Conn, _: Reader) -> list[ZonePeriodOut]:
    """The participant's time zones over time: their days are local days in these."""
    await _one(conn, entity="subject", study=study, key=subject)
    return [ZonePeriodOut.model_validate(p, from_attributes=True)
            for p in await registry_changes.zone_periods(conn, subject=subject)]


@router.post("/subjects/{subject}/time-zone")
async def set_subject_zone(study: str, subject: str, change: ZoneChange, conn: Conn,
                           who: Admin) -> list[ZonePeriodOut]:
    """The participant lives in ``zone`` from ``since`` on (a move, a journey): their days,
    completeness, deviations and analytics from then on are local days there."""
    since = change.since or datetime.now(UTC)
    async with conn.transaction():
        before = await registry_changes.set_subject_zone_audited(
            conn, study=study, subject=subject, zone=change.zone, since=since,
            actor=_actor(who, change.reason))
    if before is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no subject {subject} in study {study}")
    return [ZonePeriodOut.model_validate(p, from_attributes=True)
            for p in await registry_changes.zone_periods(conn, subject=subject)]
