"""Every answer carries the security headers; data answers are never cached and the
monitoring page may run only its own scripts and cannot be framed."""

from __future__ import annotations

import pytest

from tests.integration.api.conftest import Api

pytestmark = [pytest.mark.integration, pytest.mark.one_storage_mode]  # no readings


async def test_data_answers_are_not_cached_nor_documents(api: Api) -> None:
    for headers in (api.headers("monitor"), {}):  # an answer and a refusal alike
        answer = await api.client.get("/v1/studies/ST-1/subjects", headers=headers)
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers["content-security-policy"].startswith("default-src 'none'")
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"


async def test_the_page_runs_only_its_own_scripts_and_cannot_be_framed(api: Api) -> None:
    page = await api.client.get("/monitor/")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "'unsafe-inline'" not in policy
    assert page.headers["x-frame-options"] == "DENY"
