"""A subject's participation over the API: ``POST …/subjects/{subject}/status`` moves them
through screening → active ⇄ paused → withdrawn / completed (``storage/subject_lifecycle.py``),
with the reason in the audit trail. Withdrawing applies the study's policy for the data
already collected (kept, or deleted with the counts in the audit entry); from the change
on, ingest refuses the subject's new data (410) and their gateway stops collecting."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, Field

from api.auth.roles import Principal, Role
from api.deps import Conn, requires
from storage.subject_lifecycle import LifecycleError, change_status_audited

router = APIRouter(prefix="/v1/studies/{study}/subjects", tags=["registry"])

Admin = Annotated[Principal, Depends(requires(Role.ADMIN))]
Reason = Annotated[str, Field(min_length=1, max_length=500, pattern=r"^[^\x00]*$")]


class StatusChangeIn(BaseModel):
    status: Literal["screening", "active", "paused", "withdrawn", "completed"]
    reason: Reason


class StatusChangeOut(BaseModel):
    subject: str
    previous: str
    status: str
    since: datetime
    withdrawal_policy: str  # retain | delete (the study's)
    deleted: dict[str, int] | None  # rows deleted under 'delete'
    gateways_told: list[str]


@router.post("/{subject}/status")
async def change_status(study: str, subject: str, change: StatusChangeIn, conn: Conn,
                        who: Admin) -> StatusChangeOut:
    """Move the subject to ``status`` now; 409 when the lifecycle does not allow it."""
    try:
        async with conn.transaction():
            done = await change_status_audited(
                conn, study=study, subject=subject, to=change.status, at=datetime.now(UTC),
                actor=who.token_id, role=who.role, reason=change.reason)
    except LifecycleError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    if done is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no subject {subject} in study {study}")
    return StatusChangeOut(subject=done.subject, previous=done.previous, status=done.status,
                           since=done.since, withdrawal_policy=done.policy,
                           deleted=done.deleted, gateways_told=done.gateways)
