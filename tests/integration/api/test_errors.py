"""Errors below the routes reach clients as documented statuses: an exhausted connection
pool is a 503 with Retry-After (never a 500), and the mapping of storage errors is one
table (api/errors.py)."""

from __future__ import annotations

from contextlib import AsyncExitStack

import httpx
import psycopg
import pytest
from pydantic import SecretStr

from api.auth.roles import Role
from api.auth.tokens import create_token
from api.errors import status_for
from api.main import create_app
from api.settings import ApiSettings
from deploy.bench.seed import STUDY, seed_study
from storage.errors import (
    InvalidReadingError,
    NotMigratedError,
    PermanentStorageError,
    RetryableStorageError,
    classify,
)
from storage.settings import DatabaseSettings

pytestmark = pytest.mark.integration


def test_storage_errors_map_to_client_statuses() -> None:
    assert status_for(RetryableStorageError("down")) == 503
    assert status_for(NotMigratedError("no schema")) == 503
    assert status_for(InvalidReadingError("nan")) == 422
    assert status_for(PermanentStorageError("constraint")) == 409
    assert status_for(classify(psycopg.OperationalError("connection refused"))) == 503


async def test_an_exhausted_pool_is_a_503_with_retry_after(migrated_dsn: str) -> None:
    async with await psycopg.AsyncConnection.connect(migrated_dsn) as conn:
        await seed_study(conn, subjects=1)
        token = await create_token(conn, role=Role.MONITOR, study=STUDY)
        await conn.commit()
    app = create_app(DatabaseSettings(url=SecretStr(migrated_dsn), pool_min_size=1,
                                      pool_max_size=2, connect_timeout_s=1.0),
                     settings=ApiSettings(export_lag_s=0))
    headers = {"Authorization": f"Bearer {token}"}
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        ok = await client.get(f"/v1/studies/{STUDY}/flags", headers=headers)
        assert ok.status_code == 200, ok.text
        async with AsyncExitStack() as held:
            for _ in range(2):  # every pooled connection taken by someone else
                await held.enter_async_context(app.state.pool.connection())
            busy = await client.get(f"/v1/studies/{STUDY}/flags", headers=headers)
        assert busy.status_code == 503, busy.text
        assert busy.headers["Retry-After"] == "5"
        assert busy.json()["reason"] == "database_unavailable"
        again = await client.get(f"/v1/studies/{STUDY}/flags", headers=headers)
        assert again.status_code == 200, again.text
