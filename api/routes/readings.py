"""A subject's readings: raw pages (keyset cursor) or N-bucket downsampling; latest values;
ECG segments as JSON arrays or binary."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import msgspec
import numpy as np
from fastapi import APIRouter, Depends, HTTPException, Query, Response, status
from pydantic import AwareDatetime, BaseModel

from api.auth.roles import Principal, Role
from api.deps import Conn, requires
from devices.model import METRICS
from storage import access_log
from storage.queries import registry as registry_queries
from storage.queries.readings import (
    MAX_BUCKETS,
    MAX_PAGE,
    Bucket,
    QueryError,
    ReadingCursor,
    ecg_segments,
    latest_readings,
    readings_downsampled,
    readings_range,
)

router = APIRouter(prefix="/v1/studies/{study}/subjects/{subject}", tags=["readings"])

SubjectReader = Annotated[Principal, Depends(requires(Role.ADMIN, Role.MONITOR, Role.EDC))]


class Reading(BaseModel):
    time: datetime
    value: float
    unit: str
    device_id: str
    seq: int
    quality: int


class BucketOut(BaseModel):
    start: datetime
    end: datetime
    min: float
    max: float
    mean: float
    count: int


class ReadingsPage(BaseModel):
    metric: str
    items: list[Reading] = []
    buckets: list[BucketOut] | None = None
    next: str | None = None  # pass as ?after= for the next page


def _buckets_response(metric: str, found: list[Bucket]) -> Response:
    """A ReadingsPage of buckets, encoded straight from the storage dataclasses.

    Same JSON as the pydantic model (same keys, ISO times, shortest float repr), without
    building and validating a model per bucket: at 500 buckets that was most of the
    request's CPU in the API process.
    """
    body = msgspec.json.encode({"metric": metric, "items": [], "buckets": found, "next": None})
    return Response(body, media_type="application/json")


def _encode_cursor(cursor: ReadingCursor) -> str:
    raw = msgspec.json.encode([cursor.time.isoformat(), cursor.device_id, cursor.seq])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(text: str) -> ReadingCursor:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        time, device_id, seq = msgspec.json.decode(raw)
        return ReadingCursor(datetime.fromisoformat(time), str(device_id), int(seq))
    except (ValueError, TypeError, msgspec.DecodeError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"after: not a cursor returned by this endpoint ({exc})") from None


async def _check_subject(conn: Conn, study: str, subject: str) -> None:
    if not await registry_queries.subject_in_study(conn, study=study, subject=subject):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"subject {subject} not in study {study}")


@router.get("/readings", response_model=ReadingsPage)
async def get_readings(
    study: str, subject: str, conn: Conn, who: SubjectReader,
    metric: Annotated[str, Query(description="e.g. heart_rate, glucose, spo2")],
    start: AwareDatetime, end: AwareDatetime,
    buckets: Annotated[int | None, Query(ge=1, le=MAX_BUCKETS)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1000,
    after: str | None = None,
) -> ReadingsPage | Response:
    """Raw readings in [start, end) a page at a time, or ``buckets`` min/max/mean buckets."""
    if metric not in METRICS:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"unknown metric {metric!r}; known: {', '.join(sorted(METRICS))}")
    await _check_subject(conn, study, subject)
    await access_log.record(conn, token_id=who.token_id, role=who.role, study=study,
                            action="readings", subject=subject,
                            details={"metric": metric, "start": start.isoformat(),
                                     "end": end.isoformat(), "buckets": buckets})
    try:
        if buckets is not None:
            found = await readings_downsampled(conn, subject=subject, metric=metric, start=start,
                                               end=end, buckets=buckets)
            return _buckets_response(metric, found)
        cursor = _decode_cursor(after) if after else None
        rows = await readings_range(conn, subject=subject, metric=metric, start=start, end=end,
                                    limit=limit, after=cursor)
    except QueryError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    nxt = (_encode_cursor(ReadingCursor(rows[-1].time, rows[-1].device_id, rows[-1].seq))
           if len(rows) == limit else None)
    return ReadingsPage(metric=metric, items=[Reading(
        time=r.time, value=r.value, unit=r.unit, device_id=r.device_id, seq=r.seq,
        quality=r.quality) for r in rows], next=nxt)


@router.get("/latest")
async def get_latest(study: str, subject: str, conn: Conn, who: SubjectReader,
                     metric: Annotated[list[str] | None, Query()] = None) -> dict[str, Reading]:
    """The newest reading per metric (all metrics unless ``metric`` is given)."""
    metrics = metric or sorted(METRICS)
    unknown = sorted(set(metrics) - set(METRICS))
    if unknown:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"unknown metric(s) {unknown}")
    await _check_subject(conn, study, subject)
    await access_log.record(conn, token_id=who.token_id, role=who.role, study=study,
                            action="latest", subject=subject, details={"metrics": metrics})
    rows = await latest_readings(conn, subjects=[subject], metrics=metrics)
    return {r.metric: Reading(time=r.time, value=r.value, unit=r.unit, device_id=r.device_id,
                              seq=r.seq, quality=r.quality) for r in rows}


class SegmentOut(BaseModel):
    time: datetime
    lead: str
    sampling_rate_hz: float
    unit: str
    device_id: str
    seq: int
    samples: list[float]


MAX_ECG_SPAN = timedelta(minutes=10)


@router.get("/ecg", responses={200: {"content": {"application/json": {},
                                                   "application/octet-stream": {}}}})
async def get_ecg(study: str, subject: str, conn: Conn, who: SubjectReader,
                  start: AwareDatetime, end: AwareDatetime, lead: str = "I",
                  format: Literal["json", "binary"] = "json") -> Any:
    """ECG segments in [start, end) (at most 10 minutes): JSON arrays, or binary
    little-endian float32 samples of the segments back to back (times and rates in the
    ``X-Segments`` header as JSON)."""
    if end <= start or end - start > MAX_ECG_SPAN:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            "end must be after start and at most 10 minutes later")
    await _check_subject(conn, study, subject)
    await access_log.record(conn, token_id=who.token_id, role=who.role, study=study,
                            action="ecg", subject=subject,
                            details={"start": start.isoformat(), "end": end.isoformat()})
    found = await ecg_segments(conn, subject=subject, lead=lead, start=start, end=end)
    segments = [SegmentOut(time=s.time, lead=s.lead, sampling_rate_hz=s.sampling_rate_hz,
                           unit=s.unit, device_id=s.device_id, seq=s.seq, samples=list(s.samples))
                for s in found]
    if format == "json":
        return segments
    header = msgspec.json.encode([{"time": s.time.isoformat(), "rate": s.sampling_rate_hz,
                                   "count": len(s.samples), "device_id": s.device_id}
                                  for s in segments]).decode()
    body = b"".join(np.asarray(s.samples, dtype="<f4").tobytes() for s in segments)
    return Response(body, media_type="application/octet-stream", headers={"X-Segments": header})
