"""The API against a real, migrated PostgreSQL: an app per test, tokens for every role."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from api.auth.roles import Role
from api.auth.tokens import create_token
from api.main import create_app
from api.settings import ApiSettings
from deploy.bench.seed import STUDY, seed_study
from storage import registry
from storage.settings import DatabaseSettings
from tests.fixtures.http_server import serving

OTHER_STUDY = "ST-2"


@dataclass
class Api:
    app: FastAPI
    client: httpx.AsyncClient
    tokens: dict[str, str]  # role (or "other:<role>", "gateway") -> token
    dsn: str

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


@pytest.fixture
async def api(migrated_dsn: str) -> AsyncIterator[Api]:
    async with await psycopg.AsyncConnection.connect(migrated_dsn) as conn:
        await seed_study(conn, subjects=2)
        await registry.create_study(conn, OTHER_STUDY, "Another study")
        await registry.create_site(conn, OTHER_STUDY, "SITE-9", "Elsewhere")
        await registry.create_subject(conn, OTHER_STUDY, "SITE-9", "X-1")
        await registry.create_gateway(conn, OTHER_STUDY, "GW-X", "SITE-9")
        tokens = {}
        for role in Role:
            gateway = "GW-1" if role is Role.GATEWAY else None
            tokens[str(role)] = await create_token(conn, role=role, study=STUDY, gateway_id=gateway)
            tokens[f"other:{role}"] = await create_token(
                conn, role=role, study=OTHER_STUDY, gateway_id="GW-X" if gateway else None)
        tokens["platform-admin"] = await create_token(conn, role=Role.ADMIN, study=None)
        await conn.commit()
    # Live event streams end after 0.5 s here: tests that call every route read them whole.
    app = create_app(DatabaseSettings(url=SecretStr(migrated_dsn)),
                     settings=ApiSettings(export_lag_s=0, live_stream_max_s=0.5))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield Api(app, client, tokens, migrated_dsn)


@pytest.fixture
def live_server(migrated_dsn: str) -> Iterator[str]:
    with serving(create_app(DatabaseSettings(url=SecretStr(migrated_dsn)))) as port:
        yield f"http://127.0.0.1:{port}"
