"""Home gateways: enrollment (a single-use token exchanged for the gateway's config and
API token) and the configuration a gateway may fetch for itself."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Annotated, Any, cast

import msgspec
from fastapi import APIRouter, Depends, HTTPException, status
from pydantic import BaseModel, Field

from api.auth import enrollment
from api.auth.roles import Principal, Role
from api.auth.tokens import enroll_gateway_token
from api.deps import Conn, EnrollmentToken, requires
from devices.catalog import DeviceType
from storage.queries import gateways as gateway_queries
from storage.queries import registry as registry_queries
from storage.queries import tokens as token_queries
from stream.contract.gateway_config import DeviceEntry, GatewayConfig

router = APIRouter(tags=["gateways"])

Admin = Annotated[Principal, Depends(requires(Role.ADMIN))]
GatewayOrAdmin = Annotated[Principal, Depends(requires(Role.GATEWAY, Role.ADMIN))]


class EnrollmentTokenOut(BaseModel):
    token: str
    expires_at: datetime


class TokenRequest(BaseModel):
    ttl_minutes: int = Field(default=15, ge=1, le=24 * 60)


class Enrolled(BaseModel):
    config: dict[str, Any]  # a gateway config file's content (gateway/config.py)
    api_token: str  # role gateway, bound to this gateway; shown once


async def config_for(conn: Conn, gateway_id: str) -> GatewayConfig:
    """The gateway's config from the registry: its active enrollments' subject and devices."""
    rows = await gateway_queries.active_devices(conn, gateway_id=gateway_id)
    if not rows:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"gateway {gateway_id} has no active enrollment")
    subjects = {r.subject for r in rows}
    if len(subjects) != 1:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"gateway {gateway_id} serves {len(subjects)} subjects; one expected")
    missing = [r.device_id for r in rows if r.mac is None]
    if missing:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            f"device(s) {missing} have no Bluetooth address in the registry")
    return GatewayConfig(gateway_id=gateway_id, study=rows[0].study, subject=rows[0].subject,
                         devices=[DeviceEntry(id=r.device_id, type=DeviceType(r.device_type),
                                              address=cast(str, r.mac),  # none missing: above
                                              serial=r.serial) for r in rows])


@router.post("/v1/studies/{study}/gateways/{gateway_id}/enrollment-tokens",
             status_code=status.HTTP_201_CREATED)
async def issue_enrollment_token(study: str, gateway_id: str, conn: Conn, who: Admin,
                                 request: TokenRequest | None = None) -> EnrollmentTokenOut:
    """A single-use token for setting up the gateway (default: valid 15 minutes)."""
    if not await registry_queries.gateway_in_study(conn, study=study, gateway_id=gateway_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"gateway {gateway_id} not in study {study}")
    ttl = timedelta(minutes=(request or TokenRequest()).ttl_minutes)
    token, expires_at = await enrollment.issue(conn, study=study, gateway_id=gateway_id,
                                               created_by=who.token_id, ttl=ttl)
    return EnrollmentTokenOut(token=token, expires_at=expires_at)


@router.post("/v1/enroll")
async def enroll(token: EnrollmentToken, conn: Conn) -> Enrolled:
    """Exchange an enrollment token for the gateway's config and its own API token."""
    async with conn.transaction():
        try:
            study, gateway_id = await enrollment.redeem(conn, token)
        except enrollment.EnrollmentError as exc:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc),
                                headers={"WWW-Authenticate": "Bearer"}) from None
        config = await config_for(conn, gateway_id)
        api_token = await enroll_gateway_token(conn, study=study, gateway_id=gateway_id,
                                               name="enrolled")
        await gateway_queries.activate(conn, gateway_id=gateway_id)
    return Enrolled(config=msgspec.to_builtins(config), api_token=api_token)


@router.get("/v1/gateways/{gateway_id}/config")
async def get_config(gateway_id: str, conn: Conn, who: GatewayOrAdmin) -> dict[str, Any]:
    """The current config of a gateway (a gateway token may read only its own)."""
    study = await gateway_queries.study_of(conn, gateway_id=gateway_id)
    if study is None or not who.may_access_study(study):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"gateway {gateway_id} not found")
    config: dict[str, Any] = msgspec.to_builtins(await config_for(conn, gateway_id))
    return config


class TokenOut(BaseModel):
    """An API token as listed (never its secret)."""

    id: str
    role: str
    study: str | None
    gateway_id: str | None
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


@router.get("/v1/studies/{study}/tokens")
async def list_tokens(study: str, conn: Conn, who: Admin,
                      include_revoked: bool = False) -> list[TokenOut]:
    """The study's API tokens (gateways', monitors', jobs'), newest first."""
    rows = await token_queries.list_tokens(conn, study=study, include_revoked=include_revoked)
    return [TokenOut(**dataclasses.asdict(r)) for r in rows]


@router.post("/v1/studies/{study}/tokens/{token_id}/revoke")
async def revoke_token(study: str, token_id: str, conn: Conn, who: Admin) -> TokenOut:
    """Revoke a token of the study at once (the ingest service hears of it within a
    second); revoking one already revoked is a no-op."""
    exists, token_study = await token_queries.token_study(conn, token_id=token_id)
    if not exists or token_study != study:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no token {token_id} in study {study}")
    await token_queries.revoke_token(conn, token_id=token_id)
    rows = await token_queries.list_tokens(conn, study=study, include_revoked=True)
    return next(TokenOut(**dataclasses.asdict(r)) for r in rows if r.id == token_id)
