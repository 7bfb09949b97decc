"""Gateway enrollment: an admin issues a single-use token; the gateway exchanges it for its
config (subject, devices by address) and its own API token — over HTTP, and with the
`trialwire gateway enroll` command against a live server on loopback."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from deploy.cli import app as cli
from gateway.config import load_config
from tests.integration.api.conftest import Api

pytestmark = pytest.mark.integration


async def give_devices_addresses(dsn: str) -> None:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        await conn.execute(
            "UPDATE devices SET mac = 'C0:00:00:00:' || lpad(to_hex(ascii(left(id, 1))), 2, '0')"
            " || ':' || lpad(split_part(id, '-', 2), 2, '0') WHERE study_code = 'ST-1'")
        await conn.commit()


async def issue(api: Api, gateway: str = "GW-1", **body: int) -> str:
    response = await api.client.post(f"/v1/studies/ST-1/gateways/{gateway}/enrollment-tokens",
                                     json=body or None, headers=api.headers("admin"))
    assert response.status_code == 201, response.text
    return response.json()["token"]


async def test_token_is_exchanged_once_for_config_and_a_gateway_token(api: Api) -> None:
    await give_devices_addresses(api.dsn)
    token = await issue(api)
    enrolled = await api.client.post("/v1/enroll", headers={"Authorization": f"Bearer {token}"})
    assert enrolled.status_code == 200, enrolled.text
    body = enrolled.json()
    assert (body["config"]["gateway_id"], body["config"]["subject"]) == ("GW-1", "S-1")
    assert sorted(d["id"] for d in body["config"]["devices"]) == ["C-1", "D-1", "E-1", "W-1"]
    mine = {"Authorization": f"Bearer {body['api_token']}"}
    assert (await api.client.get("/v1/gateways/GW-1/config", headers=mine)).status_code == 200
    other = await api.client.get("/v1/gateways/GW-2/config", headers=mine)
    assert other.status_code == 403 and "own gateway" in other.json()["detail"]
    assert (await api.client.get("/v1/studies/ST-1/subjects", headers=mine)).status_code == 403
    again = await api.client.post("/v1/enroll", headers={"Authorization": f"Bearer {token}"})
    assert (again.status_code, again.json()["detail"]) == (401, "enrollment token already used")


async def test_expired_forged_and_misplaced_tokens_are_refused(api: Api) -> None:
    await give_devices_addresses(api.dsn)
    token = await issue(api, ttl_minutes=1)
    async with await psycopg.AsyncConnection.connect(api.dsn) as conn:
        await conn.execute("UPDATE enrollment_tokens SET expires_at = now() - interval '1 s'")
        await conn.commit()
    expired = await api.client.post("/v1/enroll", headers={"Authorization": f"Bearer {token}"})
    assert expired.json()["detail"] == "enrollment token expired"
    forged = token[:-4] + "AAAA"
    assert (await api.client.post("/v1/enroll", headers={"Authorization": f"Bearer {forged}"})
            ).json()["detail"] == "unknown enrollment token"
    api_token = await api.client.post("/v1/enroll", headers=api.headers("admin"))
    assert api_token.status_code == 403
    elsewhere = await api.client.post("/v1/studies/ST-1/gateways/GW-X/enrollment-tokens",
                                      headers=api.headers("admin"))
    assert elsewhere.status_code == 404  # GW-X belongs to another study


async def test_gateway_enroll_command_writes_config_and_a_private_token_file(
    api: Api, live_server: str, tmp_path: Path,
) -> None:
    await give_devices_addresses(api.dsn)
    token = await issue(api)
    out = tmp_path / "gateway.yaml"
    result = await asyncio.to_thread(CliRunner().invoke, cli, [
        "gateway", "enroll", "--api", live_server, "--token", token, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "enrolled GW-1 for subject S-1 with 4 device(s)" in result.output
    config = load_config(out)
    assert (config.subject, config.api_url) == ("S-1", live_server)
    token_file = Path(config.api_token_file or "")
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert token_file.read_text().startswith("tw_") and "tw_" not in out.read_text()
    again = await asyncio.to_thread(CliRunner().invoke, cli, [
        "gateway", "enroll", "--api", live_server, "--token", token, "--out", str(out)])
    assert again.exit_code == 1
    assert "enrollment refused (401): enrollment token already used" in again.output


async def test_re_enrolling_revokes_the_old_credential_and_admins_list_and_revoke(
        api: Api) -> None:
    """A gateway enrolled twice (a replaced hub) holds one valid token: the newest. An
    admin lists the study's tokens (never their secrets) and revokes one."""
    await give_devices_addresses(api.dsn)

    async def enroll() -> str:
        token = await issue(api)
        enrolled = await api.client.post("/v1/enroll",
                                         headers={"Authorization": f"Bearer {token}"})
        assert enrolled.status_code == 200, enrolled.text
        return str(enrolled.json()["api_token"])

    first, second = await enroll(), await enroll()
    config = "/v1/gateways/GW-1/config"
    assert (await api.client.get(config, headers={"Authorization": f"Bearer {first}"})
            ).status_code == 401
    assert (await api.client.get(config, headers={"Authorization": f"Bearer {second}"})
            ).status_code == 200
    listed = await api.client.get("/v1/studies/ST-1/tokens", headers=api.headers("admin"),
                                  params={"include_revoked": True})
    assert listed.status_code == 200
    gateway_tokens = {t["id"]: t for t in listed.json() if t["gateway_id"] == "GW-1"}
    first_id, second_id = first.split("_")[1], second.split("_")[1]
    assert gateway_tokens[first_id]["revoked_at"] is not None
    assert gateway_tokens[second_id]["revoked_at"] is None
    assert "secret" not in listed.text and second not in listed.text
    revoked = await api.client.post(f"/v1/studies/ST-1/tokens/{second_id}/revoke",
                                    headers=api.headers("admin"))
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert (await api.client.get(config, headers={"Authorization": f"Bearer {second}"})
            ).status_code == 401
    elsewhere = await api.client.post(f"/v1/studies/ST-2/tokens/{second_id}/revoke",
                                      headers=api.headers("platform-admin"))
    assert elsewhere.status_code == 404
