"""Incremental EDC exports: FHIR R4 bundles, CDISC ODM 1.3.2 ClinicalData, or CSV.

The job asks for a page after the cursor it stored, stores the page, then stores the
cursor from ``X-Next-Cursor``; asking again with the same cursor returns the same page, so
a crash anywhere in between neither loses nor repeats readings.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import msgspec
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status

from api.auth.roles import Principal, Role
from api.deps import Conn, requires
from api.exports.csv_export import to_csv
from api.exports.fhir import bundle
from api.exports.odm import clinical_data
from api.exports.page import CursorError, export_page
from storage import access_log

router = APIRouter(prefix="/v1/studies/{study}/exports", tags=["exports"])

Exporter = Annotated[Principal, Depends(requires(Role.ADMIN, Role.EDC))]


class ExportFormat(StrEnum):
    FHIR = "fhir"
    ODM = "odm"
    CSV = "csv"


MEDIA = {ExportFormat.FHIR: "application/fhir+json", ExportFormat.ODM: "application/xml",
         ExportFormat.CSV: "text/csv"}


@router.get("/{export_format}", response_class=Response, responses={200: {"content": {
    "application/fhir+json": {}, "application/xml": {}, "text/csv": {}}}})
async def export(study: str, export_format: ExportFormat, request: Request, conn: Conn,
                 who: Exporter, after: str | None = None,
                 limit: Annotated[int, Query(ge=1, le=5000)] = 1000) -> Response:
    """The page of readings stored after ``after`` (from the start without it)."""
    try:
        rows, cursor = await export_page(conn, study=study, after=after, limit=limit,
                                         lag=request.app.state.export_lag)
    except CursorError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"after: {exc}") from None
    await access_log.record(conn, token_id=who.token_id, role=who.role, study=study,
                            action=f"export:{export_format}",
                            details={"after": after, "rows": len(rows)})
    next_cursor = cursor or after or ""
    if export_format is ExportFormat.FHIR:
        next_url = (str(request.url.include_query_params(after=cursor)) if cursor else None)
        content: bytes | str = msgspec.json.encode(bundle(rows, next_url=next_url))
    elif export_format is ExportFormat.ODM:
        content = clinical_data(rows, study=study, file_oid=f"{study}.{next_cursor[:24] or 'start'}")
    else:
        content = to_csv(rows)
    return Response(content, media_type=MEDIA[export_format],
                    headers={"X-Next-Cursor": next_cursor, "X-Export-Rows": str(len(rows))})
