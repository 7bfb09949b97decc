"""Data completeness (per subject, device and day; per site) and protocol deviations."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel

from api.auth.roles import Principal, Role
from api.deps import Conn, requires
from storage import access_log, audit, deviations

router = APIRouter(prefix="/v1/studies/{study}", tags=["completeness"])

SubjectReader = Annotated[Principal, Depends(requires(Role.ADMIN, Role.MONITOR, Role.EDC))]
StudyReader = Annotated[Principal, Depends(requires(Role.ADMIN, Role.MONITOR, Role.EDC,
                                                     Role.ANALYST))]
Reviewer = Annotated[Principal, Depends(requires(Role.ADMIN, Role.MONITOR))]

MAX_DAYS = 366


def _days(start: date, end: date) -> None:
    if end < start:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "end is before start")
    if (end - start).days >= MAX_DAYS:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"at most {MAX_DAYS} days per request")


@router.get("/completeness")
async def completeness(study: str, conn: Conn, who: SubjectReader, start: date, end: date,
                       subject: str | None = None) -> list[dict[str, Any]]:
    """Per subject, device and day in [start, end]: wear minutes, completeness and the
    minutes attributed to a silent device, an offline gateway or an upload backlog."""
    _days(start, end)
    await access_log.record(conn, token_id=who.token_id, role=who.role, study=study,
                            action="completeness", subject=subject,
                            details={"start": start.isoformat(), "end": end.isoformat()})
    return await deviations.daily(conn, study=study, start=start, end=end, subject=subject)


@router.get("/completeness/sites")
async def site_rollup(study: str, conn: Conn, _: StudyReader, start: date,
                      end: date) -> list[dict[str, Any]]:
    """Per site and day: subjects with data, mean completeness and mean wear minutes."""
    _days(start, end)
    days = await deviations.daily(conn, study=study, start=start, end=end)
    subjects = deviations.per_subject(days)
    site_of = {d["subject"]: d["site"] for d in days}
    out: dict[tuple[str, date], list[dict[str, Any]]] = {}
    for (subject, day), figures in subjects.items():
        out.setdefault((site_of[subject], day), []).append(figures)
    rows = []
    for (site, day), group in sorted(out.items()):
        parts = [f["completeness"] for f in group if f["completeness"] is not None]
        rows.append({"site": site, "day": day, "subjects": len(group),
                     "mean_completeness": round(sum(parts) / len(parts), 4) if parts else None,
                     "mean_wear_minutes": round(sum(f["wear_minutes"] for f in group)
                                                / len(group), 1)})
    return rows


class DeviationOut(BaseModel):
    id: int
    subject: str
    day: date
    kind: str
    observed: float
    required: float
    status: str


def _deviation(row: deviations.Deviation) -> DeviationOut:
    return DeviationOut.model_validate(row, from_attributes=True)


@router.get("/deviations")
async def list_deviations(study: str, conn: Conn, _: SubjectReader,
                          status_: Annotated[str | None, Query(alias="status")] = None,
                          ) -> list[DeviationOut]:
    """Days below the study's minimum wear time or completeness (detected up to yesterday)."""
    await deviations.detect_recent(conn, study=study, today=datetime.now(UTC).date(),
                                   days=MAX_DAYS)
    found = await deviations.listed(conn, study=study, status=status_)
    return [_deviation(d) for d in found]


@router.post("/deviations/{deviation_id}/acknowledge")
async def acknowledge(study: str, deviation_id: int, conn: Conn, who: Reviewer) -> DeviationOut:
    async with conn.transaction():
        row = await deviations.acknowledge(conn, study=study, deviation_id=deviation_id)
        if row is None:
            raise HTTPException(status.HTTP_409_CONFLICT,
                                f"deviation {deviation_id} is not an open deviation of {study}")
        await audit.append(conn, actor=who.token_id, role=who.role, action="acknowledge",
                           entity_type="protocol_deviation", entity_id=str(deviation_id),
                           details={"study": study})
    return _deviation(row)
