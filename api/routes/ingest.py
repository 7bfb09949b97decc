"""Ingest over HTTP(S): a gateway posts the same envelope as on the wire (docs/stream.md),
authenticated with its own token; 202 means the broker has it (acks=all). The answer, and
``GET .../watermarks`` (a long-poll), carry this gateway's persisted watermarks, and no
other gateway's: a home's download does not grow with the number of homes.

Checked at the edge, without touching the database per request (``api/ingest/``): the
token, the gateway's status (retired → 403, its spool keeps the data), that each
envelope's device was enrolled through this gateway for that subject, the envelope's
field ranges and times, and the body's size before it is read."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, TypeVar

import msgspec
from aiokafka.structs import RecordMetadata
from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from psycopg_pool import PoolTimeout
from pydantic import BaseModel

from api import metrics
from api.auth.tokens import ROTATION_GRACE, rotate_gateway_token
from api.ingest.auth import Gateway, Service
from api.ingest.service import LOOKUP_TIMEOUT_S
from api.ingest.ttl_cache import LookupUnavailable
from stream.contract import status as status_codec
from stream.contract.envelope import Envelope
from stream.contract.envelope import decode as decode_envelope
from stream.contract.loss_evidence import AckedBatch, BatchCheck
from stream.validation.collection import collection_problem
from stream.validation.time_window import time_problem

T = TypeVar("T")

router = APIRouter(tags=["ingest"])

MAX_ENVELOPE_BYTES = 4 * 1024 * 1024  # also an upload's, however many envelopes it holds
MAX_UPLOAD_ENVELOPES = 500
MAX_CHECK_BYTES = 256 * 1024  # 1 000 batches of ~150 bytes
MAX_STATUS_BYTES = 256 * 1024
MAX_WAIT_S = 30.0
POLL_SLICE_S = 1.0


class Persisted(BaseModel):
    """A gateway's persisted watermarks: device id → the highest sequence stored (all
    below it too); ``version`` grows with every change (pass it back as ``after``)."""

    devices: dict[str, int]
    version: int


class Accepted(BaseModel):
    batch_id: str
    topic: str
    partition: int
    offset: int
    persisted: Persisted


class Placed(BaseModel):
    """Where the broker put one envelope of an upload."""

    batch_id: str
    partition: int
    offset: int


class Refused(BaseModel):
    """The envelope of an upload that was not taken, and why (the status and detail the
    single-envelope route would have answered)."""

    index: int
    status: int
    detail: str


class Uploaded(BaseModel):
    """The answer to an upload of several envelopes: the first ``len(accepted)`` are on
    the broker (acks=all), in order; ``refused`` is the one after them that was not taken
    (those behind it were not tried, so a gateway's order is kept); then this gateway's
    persisted watermarks."""

    topic: str
    accepted: list[Placed]
    refused: Refused | None
    persisted: Persisted


@router.post("/v1/gateways/{gateway_id}/envelopes", status_code=status.HTTP_202_ACCEPTED,
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": {"$ref": "#/components/schemas/Envelope"}}}}})
async def ingest(gateway_id: str, request: Request, who: Gateway, service: Service) -> Accepted:
    body = await _read_bounded(request)
    envelope = await _admitted(body, gateway_id, service)
    record = await _produce(service, service.topic, body, key=envelope.subject)
    service.seen(gateway_id)
    metrics.INGESTED.inc()
    devices, version = service.board.latest(gateway_id)
    return Accepted(batch_id=envelope.batch_id, topic=service.topic, partition=record.partition,
                    offset=record.offset, persisted=Persisted(devices=devices, version=version))


@router.post("/v1/gateways/{gateway_id}/uploads", response_model=Uploaded,
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": {
                     "type": "array", "maxItems": MAX_UPLOAD_ENVELOPES,
                     "items": {"$ref": "#/components/schemas/Envelope"}}}}}})
async def upload(gateway_id: str, request: Request, who: Gateway, service: Service) -> Response:
    """Several envelopes in one request (a JSON array, in the gateway's sending order),
    each checked as ``POST .../envelopes`` checks one and put on the broker byte for byte.
    Taken in order up to the first that is not; the answer says which were taken."""
    body = await _read_bounded(request)
    raws = _decoded(body, _upload_decoder.decode, "upload (a JSON array of envelopes)")
    if not 1 <= len(raws) <= MAX_UPLOAD_ENVELOPES:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"an upload holds 1 to {MAX_UPLOAD_ENVELOPES} envelopes, "
                            f"not {len(raws)}")
    taken: list[tuple[bytes, Envelope]] = []
    refused: Refused | None = None
    for index, raw in enumerate(raws):
        envelope_bytes = bytes(raw)
        try:
            taken.append((envelope_bytes, await _admitted(envelope_bytes, gateway_id, service)))
        except HTTPException as exc:
            refused = Refused(index=index, status=exc.status_code, detail=str(exc.detail))
            break
    records = await _produce_all(service, service.topic,
                                 [(b, e.subject) for b, e in taken])
    service.seen(gateway_id)
    metrics.INGESTED.inc(len(records))
    devices, version = service.board.latest(gateway_id)
    # Encoded here in the shape of ``Uploaded`` (the documented answer): FastAPI's
    # validation and serialization of the model cost more than the rest of the answer.
    answer = {"topic": service.topic,
              "accepted": [{"batch_id": e.batch_id, "partition": r.partition,
                            "offset": r.offset} for (_, e), r in zip(taken, records, strict=True)],
              "refused": None if refused is None else refused.model_dump(),
              "persisted": {"devices": devices, "version": version}}
    return Response(msgspec.json.encode(answer), media_type="application/json")


@router.get("/v1/gateways/{gateway_id}/watermarks")
async def watermarks(gateway_id: str, request: Request, who: Gateway, service: Service,
                     after: Annotated[int, Query(ge=0, le=2**62)] = 0,
                     wait_s: Annotated[float, Query(ge=0, le=MAX_WAIT_S)] = 0.0) -> Persisted:
    """This gateway's persisted watermarks; with ``wait_s``, answered as soon as their
    version passes ``after`` (or when the wait ends, or the gateway hangs up)."""
    service.seen(gateway_id)
    deadline = time.monotonic() + wait_s
    while True:
        # In slices: a long-poll whose client has gone must not hold the server's stop.
        left = deadline - time.monotonic()
        devices, version = await service.board.wait(
            gateway_id, newer_than=after, timeout_s=max(0.0, min(POLL_SLICE_S, left)))
        if version > after or left <= POLL_SLICE_S or await request.is_disconnected():
            return Persisted(devices=devices, version=version)


@router.post("/v1/gateways/{gateway_id}/batches/check",
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": {"$ref": "#/components/schemas/BatchCheck"}}}}})
async def check_batches(gateway_id: str, request: Request, who: Gateway,
                        service: Service) -> dict[str, dict[str, str]]:
    """The loss evidence on batches this gateway sent and has no persisted watermark for
    yet: ``lost`` (re-send now), ``skipped`` (read past, unstored: re-send), ``waiting``
    (the platform has not got there: do not), ``unknown`` or ``unanswered``."""
    check = _decoded(await _read_bounded(request, MAX_CHECK_BYTES), _decode_check,
                     "batch check")
    batches = [AckedBatch(b.batch_id, b.partition, b.offset, b.digest, b.acked_at)
               for b in check.batches]
    try:
        verdicts = await service.judge(batches)
    except Exception as exc:
        raise _broker_unavailable(exc) from None
    service.seen(gateway_id)
    return {"verdicts": {k: str(v) for k, v in verdicts.items()}}


class StatusAccepted(BaseModel):
    status: str = "accepted"
    # Why the gateway's subject no longer collects (paused, withdrawn, completed): the
    # gateway then ends its device sessions and keeps nothing new. None: collect on.
    collection_stopped: str | None = None


@router.post("/v1/gateways/{gateway_id}/status", status_code=status.HTTP_202_ACCEPTED)
async def publish_status(gateway_id: str, request: Request, who: Gateway,
                         service: Service) -> StatusAccepted:
    """The gateway's status telemetry, put on the status topic for the stream worker; the
    answer says whether its subject still collects."""
    body = await _read_bounded(request, MAX_STATUS_BYTES)
    reported = _decoded(body, status_codec.decode, "gateway status")
    if reported.gateway_id != gateway_id:
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"status is from gateway {reported.gateway_id}, token is for {gateway_id}")
    await _produce(service, service.kafka.topics.status, body, key=gateway_id)
    service.seen(gateway_id)
    try:
        access = await service.gateway_access(gateway_id)
    except LookupUnavailable:  # told on a later status, or by a refused upload
        return StatusAccepted()
    stopped = None if access is None else access.stopped.get(reported.subject)
    if stopped is None:
        return StatusAccepted()
    subject_status, since, _ = stopped
    return StatusAccepted(collection_stopped=f"subject {reported.subject} is {subject_status} "
                                             f"since {since.isoformat()}")


class RotatedToken(BaseModel):
    """The gateway's new token (shown once) and when it expires; the token that asked
    keeps working for ``old_token_grace_s`` more."""

    token: str
    expires_at: datetime
    old_token_grace_s: float


@router.post("/v1/gateways/{gateway_id}/token", status_code=status.HTTP_201_CREATED)
async def rotate_token(gateway_id: str, who: Gateway, service: Service) -> RotatedToken:
    """Rotate this gateway's credential: a new token, the presented one expiring shortly
    (a gateway that crashes before saving the new one asks again with the old)."""
    assert who.study is not None  # a gateway token always names its study
    try:
        async with service.pool.connection(timeout=LOOKUP_TIMEOUT_S) as conn:
            token, expires_at = await rotate_gateway_token(
                conn, presented=who.token_id, study=who.study, gateway_id=gateway_id)
    except PoolTimeout:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "credentials cannot be changed now; retry later",
                            headers={"Retry-After": "30"}) from None
    return RotatedToken(token=token, expires_at=expires_at,
                        old_token_grace_s=ROTATION_GRACE.total_seconds())


_check_decoder = msgspec.json.Decoder(BatchCheck)
_upload_decoder = msgspec.json.Decoder(list[msgspec.Raw])


def _decode_check(body: bytes) -> BatchCheck:
    return _check_decoder.decode(body)


def _decoded(body: bytes, decode: Callable[[bytes], T], what: str) -> T:
    """``decode(body)``, or 422 saying why it is not a valid ``what``."""
    try:
        return decode(body)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"not a valid {what}: {exc}") from None


def _broker_unavailable(exc: Exception) -> HTTPException:
    return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                         f"broker unavailable, retry later: {exc}", headers={"Retry-After": "5"})


async def _admitted(body: bytes, gateway_id: str, service: Service) -> Envelope:
    """The envelope in ``body`` if this gateway may send it: valid, plausible in time, its
    own, and for a device enrolled through it; else the HTTP error saying why."""
    envelope = _decoded(body, decode_envelope, "envelope")
    problem = time_problem(envelope, datetime.now(UTC))
    if problem is not None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"implausible time: {problem}")
    if envelope.gateway_id != gateway_id:
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"envelope is from gateway {envelope.gateway_id}, token is for {gateway_id}")
    await _check_enrollment(service, envelope)
    return envelope


async def _produce_all(service: Service, topic: str,
                       envelopes: list[tuple[bytes, str]]) -> list[RecordMetadata]:
    """Each (body, key) on ``topic``, appended in order (one key keeps one partition and
    its order), then all awaited (acks=all): the broker takes them in as few requests as
    the producer can make. 503 if the producer is not up yet or any is not acknowledged;
    the gateway sends them all again and the sink drops what was stored already."""
    producer = service.producer
    if producer is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "ingest is starting")
    try:
        pending = [await producer.send(topic, body, key=key.encode())
                   for body, key in envelopes]
        return list(await asyncio.gather(*pending))
    except Exception as exc:
        raise _broker_unavailable(exc) from None


async def _produce(service: Service, topic: str, body: bytes, *, key: str) -> RecordMetadata:
    """``body`` on ``topic`` under ``key``, as :func:`_produce_all` puts several."""
    (record,) = await _produce_all(service, topic, [(body, key)])
    return record


async def _check_enrollment(service: Service, envelope: Envelope) -> None:
    try:
        access = await service.gateway_access(envelope.gateway_id)
    except LookupUnavailable:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "enrollments cannot be checked now; retry later",
                            headers={"Retry-After": "5"}) from None
    if access is None:
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"gateway {envelope.gateway_id} is not registered")
    if access.status == "retired":
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"gateway {envelope.gateway_id} is retired; nothing more is taken "
                            "from it (its spool keeps the data)")
    if (envelope.device_id, envelope.subject) not in access.pairs:
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"device {envelope.device_id} was never enrolled through gateway "
                            f"{envelope.gateway_id} for subject {envelope.subject}")
    stopped = collection_problem(envelope, access.stopped.get(envelope.subject))
    if stopped is not None:  # 410: for good; the gateway stops collecting for the subject
        raise HTTPException(status.HTTP_410_GONE, stopped)


async def _read_bounded(request: Request, limit: int = MAX_ENVELOPE_BYTES) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed ``limit``: from the
    declared length before reading anything, else while it streams in (it must arrive
    within the deadline of ``api/request_limits.py``, or 408)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE,
                            f"body of {declared} bytes; at most {limit}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"body over {limit} bytes")
    return bytes(body)
