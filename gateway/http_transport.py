"""Upload over HTTPS to the platform's ingest service with this gateway's own token (the
default): the gateway holds no Kafka settings and reads no other gateway's data.

- ``POST /v1/gateways/{id}/uploads``: the due batches, several per request (a JSON array
  of envelopes, at most ``UPLOAD_MAX_BATCHES`` and ``UPLOAD_MAX_BYTES``); taken in order up to
  the first refused one, each on the broker (acks=all) before the answer, which says where
  each was placed and carries this gateway's persisted watermarks. One request per batch
  (``POST .../envelopes``) cost the service most of its CPU in HTTP handling.
- ``GET /v1/gateways/{id}/watermarks?after=V&wait_s=S``: a long-poll for newer ones.
- ``POST /v1/gateways/{id}/batches/check``: the platform judges overdue batches.
- ``POST /v1/gateways/{id}/status``: status telemetry.

Answers map to the uploader's errors: 401/403 (revoked, expired, retired) →
:class:`~gateway.errors.UploadRefused`; 429/5xx and connection failures →
:class:`~gateway.errors.PlatformUnavailable` (with the Retry-After the platform gave);
413/422 on one envelope → :class:`BatchRejected` (that batch is dropped and reported as a
gap, never re-sent for ever); an upload's refused envelope maps the same way, after the
batches taken before it are reported placed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import msgspec

from gateway.errors import (
    BatchRejected,
    CollectionStopped,
    ConfigError,
    PlatformUnavailable,
    UploadRefused,
)
from gateway.spool import Batch
from gateway.transport import Placed
from stream.contract import status as status_codec
from stream.contract.gateway_config import GatewayConfig
from stream.contract.loss_evidence import (
    AckedBatch,
    BatchCheck,
    CheckedBatch,
    Verdict,
)
from stream.contract.status import GatewayStatus

logger = logging.getLogger(__name__)

LONG_POLL_S = 25.0
CHECK_CHUNK = 1000  # batches per check request (the service's limit)
UPLOAD_MAX_BATCHES = 100  # per upload request (the service takes up to 500)
UPLOAD_MAX_BYTES = 1024 * 1024  # per upload request, unless one envelope is larger alone
TIMEOUT = httpx.Timeout(30.0, connect=10.0)
# Long-polls hold the read open for LONG_POLL_S: allow that plus a margin.
POLL_TIMEOUT = httpx.Timeout(LONG_POLL_S + 15.0, connect=10.0)


class _StatusAnswer(msgspec.Struct):
    collection_stopped: str | None = None  # why, when the subject no longer collects


class _Persisted(msgspec.Struct):
    devices: dict[str, int]
    version: int


class _Placed(msgspec.Struct):
    batch_id: str
    partition: int
    offset: int


class _Refused(msgspec.Struct):
    index: int
    status: int
    detail: str


class _Uploaded(msgspec.Struct):
    accepted: list[_Placed]
    refused: _Refused | None
    persisted: _Persisted


class _Rotated(msgspec.Struct):
    token: str


class _Verdicts(msgspec.Struct):
    verdicts: dict[str, Verdict]


def check_url(url: str, *, allow_plain_http: bool) -> str:
    """The platform URL, refused if it would send tokens and health data in clear to
    another host (plain http is allowed to loopback, or when explicitly allowed)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(f"platform URL {url!r} is not an http(s) URL")
    if parts.scheme == "http" and not allow_plain_http and not _is_loopback(parts.hostname):
        raise ConfigError(f"refusing plain http to {parts.hostname}: use https, or set "
                          "allow_plain_http: true in the gateway config (a trusted network)")
    return url.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class HttpTransport:
    def __init__(self, *, config: GatewayConfig, token: str,
                 client: httpx.AsyncClient | None = None) -> None:
        if not config.api_url:
            raise ConfigError("uploading to the ingest service needs api_url in the gateway "
                              "config (`trialwire gateway enroll` writes it)")
        self.config = config
        self.base = check_url(config.api_url, allow_plain_http=config.allow_plain_http)
        self._prefix = f"/v1/gateways/{config.gateway_id}"
        self._client = client or httpx.AsyncClient(
            base_url=self.base, timeout=TIMEOUT,
            headers={"Authorization": f"Bearer {token}", "User-Agent": "trialwire-gateway"})
        self._version = 0  # of the newest watermarks seen
        self._latest: dict[str, int] = {}
        self._news = asyncio.Event()  # set when an upload's answer brought newer watermarks

    # -- requests -----------------------------------------------------------------------

    async def _request(self, method: str, path: str, *, content: bytes | None = None,
                       params: dict[str, float] | None = None,
                       limits: httpx.Timeout = TIMEOUT) -> httpx.Response:
        try:
            response = await self._client.request(
                method, self._prefix + path, content=content, params=params, timeout=limits,
                headers={"Content-Type": "application/json"} if content is not None else None)
        except httpx.TransportError as exc:
            raise PlatformUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code in (401, 403):
            raise UploadRefused(f"{response.status_code}: {_detail(response)}")
        if response.status_code == 429 or response.status_code >= 500:
            raise PlatformUnavailable(f"{response.status_code}: {_detail(response)}",
                                      retry_after_s=_retry_after(response))
        return response

    def _note(self, persisted: _Persisted) -> None:
        if persisted.version > self._version:
            self._version = persisted.version
            self._latest = persisted.devices
            self._news.set()

    # -- Transport ----------------------------------------------------------------------

    async def send(self, batches: list[Batch]) -> AsyncIterator[tuple[Batch, Placed]]:
        for group in upload_groups(batches):
            body = b"[" + b",".join(b.envelope for b in group) + b"]"
            response = await self._request("POST", "/uploads", content=body)
            if response.status_code in (413, 422) and len(group) == 1:
                raise _rejected(group[0], _detail(response))
            uploaded = msgspec.json.decode(_expect(response, 200).content, type=_Uploaded)
            self._note(uploaded.persisted)
            for batch, placed in zip(group, uploaded.accepted, strict=False):
                if placed.batch_id != batch.batch_id:  # the service keeps the order it got
                    raise UploadRefused(f"upload answered {placed.batch_id} for "
                                        f"{batch.batch_id}")
                yield batch, Placed(placed.partition, placed.offset)
            if uploaded.refused is not None:
                raise _refusal(group[uploaded.refused.index], uploaded.refused)

    async def new_token(self) -> str:
        """A new token for this gateway (``POST .../token``); the current one keeps working
        for a grace period (``gateway/credentials.py``)."""
        response = await self._request("POST", "/token", content=b"{}")
        return msgspec.json.decode(_expect(response, 201).content, type=_Rotated).token

    def use_token(self, token: str) -> None:
        self._client.headers["Authorization"] = f"Bearer {token}"

    async def judge(self, overdue: list[AckedBatch]) -> dict[str, Verdict]:
        verdicts = {b.batch_id: Verdict.LOST for b in overdue
                    if b.partition is None or b.offset is None}
        known = [b for b in overdue if b.batch_id not in verdicts]
        for i in range(0, len(known), CHECK_CHUNK):
            chunk = [CheckedBatch(batch_id=b.batch_id, partition=b.partition or 0,
                                  offset=b.offset or 0, digest=b.digest, acked_at=b.acked_at)
                     for b in known[i:i + CHECK_CHUNK]]
            response = await self._request(
                "POST", "/batches/check", content=msgspec.json.encode(BatchCheck(batches=chunk)))
            verdicts.update(msgspec.json.decode(_expect(response, 200).content,
                                                type=_Verdicts).verdicts)
        return verdicts

    async def persisted(self) -> AsyncIterator[dict[str, int]]:
        """This gateway's watermarks as they change: from a long-poll kept open, and from
        upload answers meanwhile (whichever is newer)."""
        poll: asyncio.Future[httpx.Response] | None = None
        try:
            while True:
                if poll is None:
                    poll = asyncio.ensure_future(self._request(
                        "GET", "/watermarks", limits=POLL_TIMEOUT,
                        params={"after": self._version, "wait_s": LONG_POLL_S}))
                news = asyncio.ensure_future(self._news.wait())
                waiting: set[asyncio.Future[Any]] = {poll, news}
                try:
                    await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    news.cancel()
                changed = self._news.is_set()
                if poll.done():
                    response = _expect(poll.result(), 200)  # raises the request's error
                    poll = None
                    self._note(msgspec.json.decode(response.content, type=_Persisted))
                    changed = changed or self._news.is_set()
                self._news.clear()
                if changed:
                    yield dict(self._latest)
        finally:
            if poll is not None:
                poll.cancel()

    async def publish_status(self, status: GatewayStatus) -> str | None:
        answer = _expect(await self._request("POST", "/status",
                                             content=status_codec.encode(status)), 202)
        try:
            return msgspec.json.decode(answer.content, type=_StatusAnswer).collection_stopped
        except msgspec.DecodeError:
            return None

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self._client.aclose()


def upload_groups(batches: list[Batch]) -> list[list[Batch]]:
    """``batches`` in order, cut into uploads of at most ``UPLOAD_MAX_BATCHES`` batches and
    ``UPLOAD_MAX_BYTES`` bytes (a larger envelope goes alone)."""
    groups: list[list[Batch]] = []
    size = 0
    for batch in batches:
        if (not groups or len(groups[-1]) >= UPLOAD_MAX_BATCHES
                or size + len(batch.envelope) + 1 > UPLOAD_MAX_BYTES):
            groups.append([])
            size = 1
        groups[-1].append(batch)
        size += len(batch.envelope) + 1
    return groups


def _rejected(batch: Batch, detail: str, *, gone: bool = False) -> BatchRejected:
    kind = CollectionStopped if gone else BatchRejected
    return kind(batch.batch_id, batch.device_id, batch.gseq_from, batch.gseq_to, detail)


def _refusal(batch: Batch, refused: _Refused) -> Exception:
    """The uploader's error for an envelope the service refused within an upload."""
    detail = f"{refused.status}: {refused.detail}"
    if refused.status in (413, 422):
        return _rejected(batch, refused.detail)
    if refused.status == 410:  # the subject no longer collects (docs/gateway.md)
        return _rejected(batch, refused.detail, gone=True)
    if refused.status == 429 or refused.status >= 500:
        return PlatformUnavailable(detail)
    return UploadRefused(detail)


def _expect(response: httpx.Response, code: int) -> httpx.Response:
    """The response if it has ``code``; any other answer (a 404 from a wrong URL, say)
    is a refusal: the spool keeps everything and the gateway asks again later."""
    if response.status_code != code:
        raise UploadRefused(f"{response.status_code}: {_detail(response)}")
    return response


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    return str(detail) if detail else response.reason_phrase


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return min(max(float(value), 0.0), 300.0)
    except ValueError:
        return None
