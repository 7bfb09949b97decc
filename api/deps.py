"""FastAPI dependencies: a database connection per request and the role check every
route declares (``requires``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool

from api.auth.roles import Principal, Role
from api.auth.tokens import authenticate

_bearer = HTTPBearer(auto_error=False, description="tw_<id>_<secret> token")


async def connection(request: Request) -> AsyncIterator[AsyncConnection[Any]]:
    """A pooled connection; the request's work commits when the handler returns."""
    pool: AsyncConnectionPool = request.app.state.pool
    async with pool.connection() as conn:
        yield conn


Conn = Annotated[AsyncConnection[Any], Depends(connection)]


async def _admit(request: Request, conn: AsyncConnection[Any],
                 credentials: HTTPAuthorizationCredentials | None,
                 roles: frozenset[Role]) -> Principal:
    if credentials is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing bearer token",
                            headers={"WWW-Authenticate": "Bearer"})
    principal = await authenticate(conn, credentials.credentials)
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid, expired or revoked token",
                            headers={"WWW-Authenticate": "Bearer"})
    if principal.role not in roles:
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"role {principal.role} may not call this route "
                            f"(allowed: {', '.join(sorted(roles))})")
    study = request.path_params.get("study")
    if study is not None and not principal.may_access_study(study):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"token is not valid for study {study}")
    gateway_id = request.path_params.get("gateway_id")
    if (gateway_id is not None and principal.role is Role.GATEWAY
            and principal.gateway_id != gateway_id):
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"a gateway token may only act for its own gateway, not {gateway_id}")
    return principal


def requires(*roles: Role) -> Callable[..., Any]:
    """A dependency admitting only tokens with one of ``roles``, and, on routes with a
    ``{study}`` path parameter, only tokens of that study (or platform administrators)."""
    allowed = frozenset(roles)

    async def check(request: Request, conn: Conn,
                    credentials: Annotated[HTTPAuthorizationCredentials | None,
                                           Depends(_bearer)]) -> Principal:
        return await _admit(request, conn, credentials, allowed)

    check.__roles__ = allowed  # type: ignore[attr-defined]  # read by the route audit test
    return check


def requires_briefly(*roles: Role) -> Callable[..., Any]:
    """``requires`` for long-lived responses (the live page's event stream): the token is
    checked on a pooled connection given back at once, not held while the response runs."""
    allowed = frozenset(roles)

    async def check(request: Request,
                    credentials: Annotated[HTTPAuthorizationCredentials | None,
                                           Depends(_bearer)]) -> Principal:
        pool: AsyncConnectionPool = request.app.state.pool
        async with pool.connection() as conn:
            return await _admit(request, conn, credentials, allowed)

    check.__roles__ = allowed  # type: ignore[attr-defined]  # read by the route audit test
    return check


async def _enrollment_token(credentials: Annotated[HTTPAuthorizationCredentials | None,
                                                   Depends(_bearer)]) -> str:
    if credentials is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing enrollment token",
                            headers={"WWW-Authenticate": "Bearer"})
    if not credentials.credentials.startswith("te_"):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this route takes an enrollment token")
    return credentials.credentials


# The one route family without a role: a new gateway has no API token yet; the single-use
# enrollment token it presents is the credential (checked in the route, in its transaction).
_enrollment_token.__roles__ = frozenset()  # type: ignore[attr-defined]
EnrollmentToken = Annotated[str, Depends(_enrollment_token)]
