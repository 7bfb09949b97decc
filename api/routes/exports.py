"""Incremental EDC exports: FHIR R4 bundles, CDISC ODM 1.3.2 ClinicalData, or CSV.

The job asks for a page after the cursor it stored, stores the page, then stores the
cursor from ``X-Next-Cursor``; asking again with the same cursor returns the same page, so
a crash anywhere in between neither loses nor repeats readings. Protocol deviations have
their own stream (``/exports/deviations/{format}``) with its own cursor.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status

from api.auth.roles import Principal, Role
from api.deps import Conn, requires
from api.exports.csv_export import deviations_to_csv, to_csv
from api.exports.cursor import CursorError
from api.exports.deviation_page import deviation_page
from api.exports.fhir import bundle, deviation_bundle
from api.exports.odm import clinical_data, deviation_data
from api.exports.page import export_page
from storage import access_log, deviations

router = APIRouter(prefix="/v1/studies/{study}/exports", tags=["exports"])

Exporter = Annotated[Principal, Depends(requires(Role.ADMIN, Role.EDC))]


class ExportFormat(StrEnum):
    FHIR = "fhir"
    ODM = "odm"
    CSV = "csv"


MEDIA = {ExportFormat.FHIR: "application/fhir+json", ExportFormat.ODM: "application/xml",
         ExportFormat.CSV: "text/csv"}


# What each export stream renders a page with: FHIR bundle, ODM document, CSV text.
_READINGS = (bundle, clinical_data, to_csv, "")
_DEVIATIONS = (deviation_bundle, deviation_data, deviations_to_csv, "DEV.")
_CONTENT: dict[int | str, dict[str, Any]] = {
    200: {"content": {media: {} for media in MEDIA.values()}}}


@router.get("/{export_format}", response_class=Response, responses=_CONTENT)
async def export(study: str, export_format: ExportFormat, request: Request, conn: Conn,
                 who: Exporter, after: str | None = None,
                 limit: Annotated[int, Query(ge=1, le=5000)] = 1000) -> Response:
    """The page of readings stored after ``after`` (from the start without it)."""
    try:
        rows, cursor = await export_page(conn, study=study, after=after, limit=limit,
                                         lag=request.app.state.export_lag)
    except CursorError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"after: {exc}") from None
    return await _respond(conn, who, request, study, export_format, after, rows, cursor,
                          "export", _READINGS)


@router.get("/deviations/{export_format}", response_class=Response, responses=_CONTENT)
async def export_deviations(study: str, export_format: ExportFormat, request: Request,
                            conn: Conn, who: Exporter, after: str | None = None,
                            limit: Annotated[int, Query(ge=1, le=5000)] = 1000) -> Response:
    """Protocol deviations recorded or changed after ``after``; days up to yesterday are
    checked against the study's minimums first, so the job need not list them itself."""
    await deviations.detect_recent(conn, study=study, today=datetime.now(UTC).date())
    await conn.commit()  # the page below reads in a new transaction, so it can see them
    try:
        rows, cursor = await deviation_page(conn, study=study, after=after, limit=limit,
                                            lag=request.app.state.export_lag)
    except CursorError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"after: {exc}") from None
    return await _respond(conn, who, request, study, export_format, after, rows, cursor,
                          "export:deviations", _DEVIATIONS)


async def _respond(conn: Conn, who: Principal, request: Request, study: str,
                   export_format: ExportFormat, after: str | None, rows: list[Any],
                   cursor: str | None, action: str, render: tuple[Any, Any, Any, str],
                   ) -> Response:
    """Log the read, render the page and set the cursor headers (the same cursor again
    when the page is empty, so the job can store it unconditionally)."""
    await access_log.record(conn, token_id=who.token_id, role=who.role, study=study,
                            action=f"{action}:{export_format}",
                            details={"after": after, "rows": len(rows)})
    to_fhir, to_odm, to_text, oid_tag = render
    next_cursor = cursor or after or ""
    if export_format is ExportFormat.FHIR:
        next_url = (str(request.url.include_query_params(after=cursor)) if cursor else None)
        content: bytes | str = msgspec.json.encode(to_fhir(rows, next_url=next_url))
    elif export_format is ExportFormat.ODM:
        content = to_odm(rows, study=study,
                         file_oid=f"{study}.{oid_tag}{next_cursor[:24] or 'start'}")
    else:
        content = to_text(rows)
    return Response(content, media_type=MEDIA[export_format],
                    headers={"X-Next-Cursor": next_cursor, "X-Export-Rows": str(len(rows))})
