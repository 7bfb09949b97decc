"""Audit-trail verification and the data-access log (administrators)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from api.auth.roles import Principal, Role
from api.deps import Conn, requires
from storage import access_log, audit

router = APIRouter(tags=["audit"])

Admin = Annotated[Principal, Depends(requires(Role.ADMIN))]


@router.get("/v1/audit/verify")
async def verify(conn: Conn, _: Admin) -> dict[str, Any]:
    """Recompute the audit trail's hash chain; ``ok`` false names the first bad entry."""
    result = await audit.verify(conn)
    return {"ok": result.ok, "entries": result.entries, "first_bad_id": result.first_bad_id,
            "problem": result.problem}


@router.get("/v1/studies/{study}/access-log")
async def data_access(study: str, conn: Conn, _: Admin, subject: str | None = None,
                      limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[dict[str, Any]]:
    """Who read which subject's data, newest first."""
    return await access_log.entries(conn, study=study, subject=subject, limit=limit)
