"""Studies, sites and subjects (pseudonymous codes only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, Field

from api.auth.roles import Principal, Role
from api.deps import Conn, requires
from storage import registry

router = APIRouter(prefix="/v1/studies", tags=["registry"])

CODE = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
Code = Annotated[str, Field(pattern=CODE)]

Reader = Annotated[Principal, Depends(requires(Role.ADMIN, Role.MONITOR, Role.EDC, Role.ANALYST))]
Admin = Annotated[Principal, Depends(requires(Role.ADMIN))]


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
    row = await (await conn.execute("SELECT code, name FROM studies WHERE code = %s",
                                    (study,))).fetchone()
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"study {study} not found")
    return Study(code=row[0], name=row[1])


@router.get("/{study}/subjects")
async def list_subjects(study: str, conn: Conn, _: Reader) -> list[Subject]:
    cur = await conn.execute(
        "SELECT code, site_code, arm, status FROM subjects WHERE study_code = %s ORDER BY code",
        (study,))
    return [Subject(code=c, site=s, arm=a, status=st) for c, s, a, st in await cur.fetchall()]


@router.post("/{study}/subjects", status_code=status.HTTP_201_CREATED)
async def create_subject(study: str, subject: Subject, conn: Conn, _: Admin) -> Subject:
    site = await (await conn.execute(
        "SELECT 1 FROM sites WHERE study_code = %s AND code = %s", (study, subject.site))).fetchone()
    if site is None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"site {subject.site} is not a site of study {study}")
    if not await registry.create_subject(conn, study, subject.site, subject.code, subject.arm):
        raise HTTPException(status.HTTP_409_CONFLICT, f"subject {subject.code} already exists")
    return subject
