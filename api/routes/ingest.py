"""Ingest over HTTP for gateways that cannot reach Kafka: the same envelope as on the wire
(docs/stream.md), authenticated as that gateway, produced to the raw topic keyed by
subject. 202 means the broker has the envelope (acks=all); the persisted watermark then
comes back as usual."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import msgspec
from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel

from api import metrics
from api.auth.roles import Principal, Role
from api.deps import requires
from stream.contract.envelope import decode as decode_envelope
from stream.validation.time_window import time_problem

router = APIRouter(tags=["ingest"])

Gateway = Annotated[Principal, Depends(requires(Role.GATEWAY))]

MAX_ENVELOPE_BYTES = 4 * 1024 * 1024


class Accepted(BaseModel):
    batch_id: str
    topic: str
    partition: int
    offset: int


@router.post("/v1/gateways/{gateway_id}/envelopes", status_code=status.HTTP_202_ACCEPTED,
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": {"$ref": "#/components/schemas/Envelope"}}}}})
async def ingest(gateway_id: str, request: Request, who: Gateway) -> Accepted:
    body = await _read_bounded(request)
    try:
        envelope = decode_envelope(body)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"not a valid envelope: {exc}") from None
    problem = time_problem(envelope, datetime.now(UTC))
    if problem is not None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"implausible time: {problem}")
    if envelope.gateway_id != gateway_id:
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"envelope is from gateway {envelope.gateway_id}, token is for {gateway_id}")
    producer = request.app.state.producer
    if producer is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "ingest is not configured (no Kafka)")
    topic = request.app.state.topics.raw_readings
    try:
        record = await producer.send_and_wait(topic, body, key=envelope.subject.encode())
    except Exception as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            f"broker unavailable, retry later: {exc}") from None
    metrics.INGESTED.inc()
    return Accepted(batch_id=envelope.batch_id, topic=topic, partition=record.partition,
                    offset=record.offset)


async def _read_bounded(request: Request) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed the limit: from the
    declared length before reading anything, else while it streams in."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_ENVELOPE_BYTES:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE,
                            f"envelope of {declared} bytes; at most {MAX_ENVELOPE_BYTES}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_ENVELOPE_BYTES:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE,
                                f"envelope over {MAX_ENVELOPE_BYTES} bytes")
    return bytes(body)
