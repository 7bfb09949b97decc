"""The registry: studies, sites, subjects (pseudonymous codes only; CSV import), devices,
gateways and enrollments."""

from __future__ import annotations

import csv
import io
import re
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import AwareDatetime, BaseModel, Field, model_validator

from api.auth.roles import Principal, Role
from api.deps import Conn, requires
from storage import registry
from storage.queries import registry as registry_queries

router = APIRouter(prefix="/v1/studies", tags=["registry"])

CODE = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
Code = Annotated[str, Field(pattern=CODE)]

Reader = Annotated[Principal, Depends(requires(Role.ADMIN, Role.MONITOR, Role.EDC, Role.ANALYST))]
Admin = Annotated[Principal, Depends(requires(Role.ADMIN))]


async def _csv_body(request: Request) -> bytes:
    """The request body, read before the route's connection is taken (dependencies are
    solved in the order the route declares them): a slow upload holds no connection."""
    return await request.body()


CsvBody = Annotated[bytes, Depends(_csv_body)]


class Study(BaseModel):
    code: Code
    name: str = Field(min_length=1, max_length=200)


class Subject(BaseModel):
    code: Code
    site: Code
    arm: str | None = None
    status: str = "active"


@router.get("/{study}")
async def get_study(study: str, conn: Conn, _: Reader) -> Study:
    row = await registry_queries.get_study(conn, code=study)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"study {study} not found")
    return Study(code=row.code, name=row.name)


@router.get("/{study}/subjects")
async def list_subjects(study: str, conn: Conn, _: Reader) -> list[Subject]:
    return [Subject(code=s.code, site=s.site, arm=s.arm, status=s.status)
            for s in await registry_queries.subjects(conn, study=study)]


@router.post("/{study}/subjects", status_code=status.HTTP_201_CREATED)
async def create_subject(study: str, subject: Subject, conn: Conn, _: Admin) -> Subject:
    if not await registry_queries.site_in_study(conn, study=study, site=subject.site):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"site {subject.site} is not a site of study {study}")
    if not await registry.create_subject(conn, study, subject.site, subject.code, subject.arm):
        raise HTTPException(status.HTTP_409_CONFLICT, f"subject {subject.code} already exists")
    return subject


class Site(BaseModel):
    code: Code
    name: str = Field(min_length=1, max_length=200)


class Device(BaseModel):
    id: Code
    device_type: Literal["ecg_patch", "cgm", "glucose_meter", "smartwatch", "bp_cuff"]
    serial: str | None = Field(default=None, max_length=64)
    model: str | None = Field(default=None, max_length=100)
    mac: str | None = Field(default=None, pattern=r"^([0-9A-F]{2}:){5}[0-9A-F]{2}$")


class GatewayIn(BaseModel):
    id: Code
    site: Code | None = None


class EnrollmentIn(BaseModel):
    subject: Code
    device_id: Code
    gateway_id: Code
    start: AwareDatetime
    end: AwareDatetime | None = None

    @model_validator(mode="after")
    def _order(self) -> EnrollmentIn:
        if self.end is not None and self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class ImportResult(BaseModel):
    created: int
    existing: int


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_study(study: Study, conn: Conn, who: Admin) -> Study:
    """Platform administrators only (a study admin's token is bound to its study)."""
    if who.study is not None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "only a platform administrator creates studies")
    if not await registry.create_study(conn, study.code, study.name):
        raise HTTPException(status.HTTP_409_CONFLICT, f"study {study.code} already exists")
    return study


async def _require_study(conn: Conn, study: str) -> None:
    if not await registry_queries.study_exists(conn, code=study):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"study {study} not found")


@router.get("/{study}/sites")
async def list_sites(study: str, conn: Conn, _: Reader) -> list[Site]:
    return [Site(code=s.code, name=s.name) for s in await registry_queries.sites(conn, study=study)]


@router.post("/{study}/sites", status_code=status.HTTP_201_CREATED)
async def create_site(study: str, site: Site, conn: Conn, _: Admin) -> Site:
    await _require_study(conn, study)
    if not await registry.create_site(conn, study, site.code, site.name):
        raise HTTPException(status.HTTP_409_CONFLICT, f"site {site.code} already exists")
    return site


@router.get("/{study}/devices")
async def list_devices(study: str, conn: Conn, _: Reader) -> list[Device]:
    return [Device.model_validate({"id": d.id, "device_type": d.device_type, "serial": d.serial,
                                   "model": d.model, "mac": d.mac})
            for d in await registry_queries.devices(conn, study=study)]


@router.post("/{study}/devices", status_code=status.HTTP_201_CREATED)
async def create_device(study: str, device: Device, conn: Conn, _: Admin) -> Device:
    await _require_study(conn, study)
    if not await registry.create_device(conn, study, device.id, device.device_type,
                                        serial=device.serial, model=device.model, mac=device.mac):
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"device {device.id} (or its type and serial) already exists")
    return device


@router.get("/{study}/gateways")
async def list_gateways(study: str, conn: Conn, _: Reader) -> list[dict[str, Any]]:
    return [{"id": g.id, "site": g.site, "status": g.status, "last_seen_at": g.last_seen_at}
            for g in await registry_queries.gateways(conn, study=study)]


@router.post("/{study}/gateways", status_code=status.HTTP_201_CREATED)
async def create_gateway(study: str, gateway: GatewayIn, conn: Conn, _: Admin) -> GatewayIn:
    await _require_study(conn, study)
    if not await registry.create_gateway(conn, study, gateway.id, gateway.site):
        raise HTTPException(status.HTTP_409_CONFLICT, f"gateway {gateway.id} already exists")
    return gateway


@router.post("/{study}/enrollments", status_code=status.HTTP_201_CREATED)
async def create_enrollment(study: str, enrollment: EnrollmentIn, conn: Conn,
                            _: Admin) -> EnrollmentIn:
    """Assign a device to a subject through a gateway for [start, end)."""
    checks = [("subject", enrollment.subject,
               partial(registry_queries.subject_in_study, subject=enrollment.subject)),
              ("device", enrollment.device_id,
               partial(registry_queries.device_in_study, device_id=enrollment.device_id)),
              ("gateway", enrollment.gateway_id,
               partial(registry_queries.gateway_in_study, gateway_id=enrollment.gateway_id))]
    for label, value, in_study in checks:
        if not await in_study(conn, study=study):
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                f"{label} {value} is not in study {study}")
    if not await registry.enroll(conn, study=study, subject=enrollment.subject,
                                 device_id=enrollment.device_id,
                                 gateway_id=enrollment.gateway_id, start=enrollment.start,
                                 end=enrollment.end):
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"device {enrollment.device_id} is already enrolled in that period")
    return enrollment


@router.post("/{study}/subjects/import", openapi_extra={"requestBody": {
    "required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}})
async def import_subjects(study: str, body: CsvBody, conn: Conn, _: Admin) -> ImportResult:
    """CSV with a header ``code,site[,arm]``: all rows are checked first; any bad row
    refuses the whole file (422 listing every problem by line); existing codes are kept."""
    await _require_study(conn, study)
    text = body.decode("utf-8-sig", errors="replace")
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or not {"code", "site"} <= set(reader.fieldnames):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            "CSV needs a header line with at least: code,site")
    sites = await registry_queries.site_codes(conn, study=study)
    rows, problems = [], []
    for line, row in enumerate(reader, start=2):
        code, site = (row.get("code") or "").strip(), (row.get("site") or "").strip()
        if not re.fullmatch(CODE, code):
            problems.append(f"line {line}: code {code!r} is not a pseudonymous code")
        elif site not in sites:
            problems.append(f"line {line}: site {site!r} is not a site of study {study}")
        else:
            rows.append((code, site, (row.get("arm") or "").strip() or None))
    if problems:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, problems)
    created = 0
    async with conn.transaction():
        for code, site, arm in rows:
            created += await registry.create_subject(conn, study, site, code, arm)
    return ImportResult(created=created, existing=len(rows) - created)
