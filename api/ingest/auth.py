"""The gateway check of the ingest routes: the same rules as ``api.deps.requires(GATEWAY)``
(a valid gateway token, acting only for its own gateway), answered from the ingest
service's caches instead of a pooled database connection per request."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import AsyncConnectionPool

from api.auth.roles import Principal, Role
from api.auth.tokens import authenticate
from api.ingest.rate_limit import retry_after_header
from api.ingest.service import IngestService
from api.ingest.ttl_cache import LookupUnavailable

_bearer = HTTPBearer(auto_error=False, description="tw_<id>_<secret> gateway token")


async def ingest_service(request: Request) -> IngestService:
    # async: FastAPI runs a plain def dependency in its thread pool, a thread hop per request.
    service: IngestService | None = getattr(request.app.state, "ingest", None)
    if service is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "ingest is not configured here (no Kafka)")
    return service


Service = Annotated[IngestService, Depends(ingest_service)]


async def _authenticate(request: Request, token: str) -> Principal | None:
    """From the ingest service's cache; where there is no ingest service (an API without
    Kafka), from the database, so that its routes still answer 401/403 before 503."""
    service: IngestService | None = getattr(request.app.state, "ingest", None)
    if service is not None:
        return await service.authenticate(token)
    pool: AsyncConnectionPool = request.app.state.pool
    async with pool.connection() as conn:
        return await authenticate(conn, token)


async def gateway_principal(request: Request,
                            credentials: Annotated[HTTPAuthorizationCredentials | None,
                                                   Depends(_bearer)]) -> Principal:
    if credentials is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing bearer token",
                            headers={"WWW-Authenticate": "Bearer"})
    try:
        principal = await _authenticate(request, credentials.credentials)
    except LookupUnavailable:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            "credentials cannot be checked now; retry later",
                            headers={"Retry-After": "5"}) from None
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid, expired or revoked token",
                            headers={"WWW-Authenticate": "Bearer"})
    if principal.role is not Role.GATEWAY:
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"role {principal.role} may not call this route (allowed: gateway)")
    gateway_id = request.path_params.get("gateway_id")
    if gateway_id is not None and principal.gateway_id != gateway_id:
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"a gateway token may only act for its own gateway, not {gateway_id}")
    service: IngestService | None = getattr(request.app.state, "ingest", None)
    if service is not None:
        wait = service.limiter.take(principal.token_id, time.monotonic())
        if wait is not None:
            raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                                "over this gateway's request rate; retry later",
                                headers={"Retry-After": retry_after_header(wait)})
    return principal


gateway_principal.__roles__ = frozenset({Role.GATEWAY})  # type: ignore[attr-defined]
Gateway = Annotated[Principal, Depends(gateway_principal)]
