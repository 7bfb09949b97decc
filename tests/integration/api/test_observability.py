"""The API's health probe and Prometheus metrics: requests are counted by route template
(never by concrete path, so no subject code becomes a label), and the probe answers
without a token while saying nothing about any study."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY, generate_latest

from deploy.bench.seed import STUDY
from tests.integration.api.conftest import Api

pytestmark = pytest.mark.integration

TEMPLATE = "/v1/studies/{study}/subjects/{subject}/latest"


def _count(route: str, status: str) -> float:
    value = REGISTRY.get_sample_value("trialwire_api_requests_total",
                                      {"method": "GET", "route": route, "status": status})
    return value or 0.0


async def test_health_probe_answers_without_a_token(api: Api) -> None:
    answer = await api.client.get("/healthz")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}
    assert "/healthz" not in (await api.client.get("/openapi.json")).json()["paths"]


async def test_requests_are_counted_by_route_template(api: Api) -> None:
    ok_before, denied_before = _count(TEMPLATE, "200"), _count(TEMPLATE, "401")
    answer = await api.client.get(f"/v1/studies/{STUDY}/subjects/S-1/latest",
                                  headers=api.headers("monitor"))
    assert answer.status_code == 200
    assert (await api.client.get(f"/v1/studies/{STUDY}/subjects/S-1/latest")).status_code == 401
    assert _count(TEMPLATE, "200") == ok_before + 1
    assert _count(TEMPLATE, "401") == denied_before + 1
    exposition = generate_latest(REGISTRY).decode()
    assert "trialwire_api_request_seconds_bucket" in exposition
    assert "S-1" not in exposition  # labels carry templates, never subject codes
