"""Every route declares its roles, and every route refuses the wrong role, a token of
another study, and no token at all."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute

from api.auth.roles import Role
from tests.integration.api.conftest import Api

pytestmark = [pytest.mark.integration, pytest.mark.one_storage_mode]  # no readings

# Values that make each route's own parameters valid, so only the role check can refuse.
PATH = {"study": "ST-1", "subject": "S-1", "flag_id": "1", "gateway_id": "GW-1",
        "export_format": "csv", "deviation_id": "1", "token_id": "0123456789abcdef",
        "channel_id": "1", "site": "SITE-1", "device_id": "W-1", "rule_id": "fever"}
QUERY = {"metric": "heart_rate", "start": "2026-11-25T08:00:00Z", "end": "2026-11-25T08:05:00Z"}
DAY_QUERY = {"start": "2026-11-24", "end": "2026-11-25"}  # routes taking dates
BODIES = {"/v1/studies": {"code": "ST-NEW", "name": "New"},
          "/v1/studies/{study}/subjects": {"code": "S-NEW", "site": "SITE-1"},
          "/v1/studies/{study}/sites": {"code": "SITE-NEW", "name": "New"},
          "/v1/studies/{study}/devices": {"id": "D-NEW", "device_type": "cgm"},
          "/v1/studies/{study}/gateways": {"id": "GW-NEW"},
          "/v1/studies/{study}/enrollments": {"subject": "S-1", "device_id": "W-1",
                                              "gateway_id": "GW-1",
                                              "start": "2027-01-01T00:00:00Z"},
          "/v1/studies/{study}/flags/{flag_id}/transitions": {"action": "acknowledge"},
          "/v1/studies/{study}/alert-channels": {
              "name": "hook", "kind": "webhook", "target": "https://hooks.example/x",
              "reason": "route role test"},
          "/v1/studies/{study}/alert-channels/{channel_id}/switch": {
              "enabled": False, "reason": "route role test"}}
CSV = {"/v1/studies/{study}/subjects/import": "code,site\nS-CSV,SITE-1\n"}
# Routes only a platform administrator (a token without a study) may use.
PLATFORM_ONLY = {"/v1/studies"}
# Routes served by the ingest service, which this app (no Kafka) does not run: past the
# role check they answer 503.
INGEST = {"/v1/gateways/{gateway_id}/envelopes", "/v1/gateways/{gateway_id}/uploads",
          "/v1/gateways/{gateway_id}/watermarks",
          "/v1/gateways/{gateway_id}/batches/check", "/v1/gateways/{gateway_id}/status",
          "/v1/gateways/{gateway_id}/token"}


def declared_roles(route: APIRoute) -> frozenset[Role] | None:
    pending = list(route.dependant.dependencies)
    while pending:
        dep = pending.pop()
        roles = getattr(dep.call, "__roles__", None)
        if roles is not None:
            return roles
        pending += dep.dependencies
    return None


def routes(api: Api) -> list[APIRoute]:
    """Every APIRoute, also inside included routers (FastAPI ≥ 0.160 wraps those)."""
    found: list[APIRoute] = []
    pending = list(api.app.routes)
    while pending:
        route = pending.pop(0)
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):
            pending += route.original_router.routes
        elif hasattr(route, "routes"):
            pending += route.routes
    return found


async def call(api: Api, route: APIRoute, who: str | None) -> int:
    path = re.sub(r"\{(\w+)\}", lambda m: PATH[m.group(1)], route.path)
    method = sorted(route.methods)[0]
    headers = api.headers(who) if who else {}
    params = (DAY_QUERY if "/completeness" in route.path
              else {**DAY_QUERY, "measure": "wear_time"} if "/analytics" in route.path
              else QUERY)
    if route.path in CSV:
        response = await api.client.request(method, path, params=params, content=CSV[route.path],
                                            headers={**headers, "Content-Type": "text/csv"})
    else:
        response = await api.client.request(method, path, params=params, headers=headers,
                                            json=BODIES.get(route.path))
    return response.status_code


async def test_every_route_declares_roles(api: Api) -> None:
    found = routes(api)
    assert found
    missing = [r.path for r in found if declared_roles(r) is None]
    assert missing == []


async def test_every_route_refuses_wrong_roles_other_studies_and_anonymous(api: Api) -> None:
    for route in routes(api):
        roles = declared_roles(route)
        assert roles is not None
        assert await call(api, route, None) == 401, route.path
        if route.path in PLATFORM_ONLY:
            assert await call(api, route, "admin") == 403, route.path
            assert await call(api, route, "platform-admin") < 400, route.path
            for role in set(Role) - {Role.ADMIN}:
                assert await call(api, route, str(role)) == 403, (route.path, role)
            continue
        for role in Role:
            status = await call(api, route, str(role))
            if role in roles:
                allowed = (404, 409, 422, 503) if route.path in INGEST else (404, 409, 422)
                assert status < 400 or status in allowed, (route.path, role, status)
                if "{study}" in route.path:
                    assert await call(api, route, f"other:{role}") == 403, (route.path, role)
            else:
                assert status == 403, (route.path, role, status)


async def test_platform_admin_reaches_every_study(api: Api) -> None:
    response = await api.client.get("/v1/studies/ST-2/subjects", headers=api.headers("platform-admin"))
    assert response.status_code == 200
    assert [s["code"] for s in response.json()] == ["X-1"]


async def test_bad_and_revoked_tokens_are_401(api: Api) -> None:
    from api.auth.tokens import revoke
    from storage.pool import connect

    bad = await api.client.get("/v1/studies/ST-1", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and bad.json()["detail"] == "invalid, expired or revoked token"
    token = api.tokens["monitor"]
    conn = await connect(api.dsn)
    try:
        assert await revoke(conn, token.split("_")[1])
        await conn.commit()
    finally:
        await conn.close()
    assert (await api.client.get("/v1/studies/ST-1", headers=api.headers("monitor"))).status_code == 401
