"""Sponsor analytics: aggregates as JSON, CSV or Parquet."""

from __future__ import annotations

import io
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Response, status

from api.analytics import GroupBy, Measure, aggregate
from api.auth.roles import Principal, Role
from api.deps import Conn, requires

router = APIRouter(prefix="/v1/studies/{study}/analytics", tags=["analytics"])

Analyst = Annotated[Principal, Depends(requires(Role.ADMIN, Role.ANALYST))]


@router.get("", response_class=Response, responses={200: {"content": {
    "application/json": {}, "text/csv": {}, "application/vnd.apache.parquet": {}}}})
async def analytics(study: str, conn: Conn, _: Analyst, measure: Measure, start: date,
                    end: date, group_by: GroupBy = "site",
                    format: Literal["json", "csv", "parquet"] = "json") -> Response:
    """Per group and day: mean/min/max of the measure over subjects, and how many."""
    if end < start or (end - start).days > 366:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            "start..end must be in order and span at most 366 days")
    frame = await aggregate(conn, study=study, measure=measure, group_by=group_by,
                            start=start, end=end)
    if format == "csv":
        return Response(frame.write_csv(), media_type="text/csv")
    if format == "parquet":
        buffer = io.BytesIO()
        frame.write_parquet(buffer)
        return Response(buffer.getvalue(), media_type="application/vnd.apache.parquet")
    return Response(frame.write_json(), media_type="application/json")
