"""Registry over HTTP: sites, devices, gateways, enrollments and a CSV subject import."""

from __future__ import annotations

import pytest

from tests.integration.api.conftest import Api

pytestmark = pytest.mark.integration


async def test_build_a_site_and_enroll_a_device(api: Api) -> None:
    admin = api.headers("admin")
    base = "/v1/studies/ST-1"
    assert (await api.client.post(f"{base}/sites", json={"code": "SITE-2", "name": "Two"},
                                  headers=admin)).status_code == 201
    assert (await api.client.post(f"{base}/sites", json={"code": "SITE-2", "name": "Two"},
                                  headers=admin)).status_code == 409
    device = {"id": "CGM-77", "device_type": "cgm", "serial": "SN77", "mac": "C1:00:00:00:00:77"}
    assert (await api.client.post(f"{base}/devices", json=device, headers=admin)).status_code == 201
    bad_mac = await api.client.post(f"{base}/devices", headers=admin,
                                    json={**device, "id": "CGM-78", "mac": "nope"})
    assert bad_mac.status_code == 422
    enrollment = {"subject": "S-1", "device_id": "CGM-77", "gateway_id": "GW-1",
                  "start": "2026-12-01T00:00:00Z", "end": "2027-01-01T00:00:00Z"}
    assert (await api.client.post(f"{base}/enrollments", json=enrollment,
                                  headers=admin)).status_code == 201
    overlap = await api.client.post(f"{base}/enrollments", headers=admin,
                                    json={**enrollment, "subject": "S-2", "gateway_id": "GW-2",
                                          "start": "2026-12-15T00:00:00Z"})
    assert overlap.status_code == 409 and "already enrolled" in overlap.json()["detail"]
    foreign = await api.client.post(f"{base}/enrollments", headers=admin,
                                    json={**enrollment, "subject": "X-1"})
    assert foreign.status_code == 422 and foreign.json()["detail"] == "subject X-1 is not in study ST-1"
    devices = (await api.client.get(f"{base}/devices", headers=api.headers("monitor"))).json()
    assert "CGM-77" in [d["id"] for d in devices]


async def test_csv_import_is_all_or_nothing(api: Api) -> None:
    admin = {**api.headers("admin"), "Content-Type": "text/csv"}
    url = "/v1/studies/ST-1/subjects/import"
    bad = "code,site,arm\nS-10,SITE-1,A\nJohn Smith,SITE-1,B\nS-12,NOWHERE,A\n"
    refused = await api.client.post(url, content=bad, headers=admin)
    assert refused.status_code == 422
    assert refused.json()["detail"] == [
        "line 3: code 'John Smith' is not a pseudonymous code",
        "line 4: site 'NOWHERE' is not a site of study ST-1"]
    good = "code,site,arm\nS-10,SITE-1,A\nS-11,SITE-1,B\nS-1,SITE-1,\n"
    result = await api.client.post(url, content=good, headers=admin)
    assert result.json() == {"created": 2, "existing": 1}
    subjects = (await api.client.get("/v1/studies/ST-1/subjects", headers=admin)).json()
    assert {"S-10", "S-11"} <= {s["code"] for s in subjects}
    headerless = await api.client.post(url, content="S-13;SITE-1\n", headers=admin)
    assert headerless.status_code == 422 and "header line" in headerless.json()["detail"]
