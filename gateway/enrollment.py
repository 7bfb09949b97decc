"""Enrolling a new gateway: exchange the single-use token an administrator issued for the
gateway's config and its own API token (``POST /v1/enroll``), and keep both on disk."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import msgspec

from gateway.config import dump_config
from gateway.errors import ConfigError
from stream.contract.gateway_config import GatewayConfig


class EnrollmentFailed(ConfigError):
    """The platform refused the token or could not be reached; the message says which."""


def exchange(api_url: str, token: str, *, timeout_s: float = 30.0) -> tuple[GatewayConfig, str]:
    """(config, API token) for the enrollment ``token``; raises EnrollmentFailed."""
    url = api_url.rstrip("/") + "/v1/enroll"
    try:
        response = httpx.post(url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise EnrollmentFailed(f"cannot reach {url}: {exc}") from None
    if response.status_code != 200:
        try:
            detail = response.json().get("detail", response.text)
        except ValueError:
            detail = response.text
        raise EnrollmentFailed(f"enrollment refused ({response.status_code}): {detail}")
    body = response.json()
    try:
        config = msgspec.convert(body["config"], GatewayConfig)
    except (KeyError, msgspec.ValidationError) as exc:
        raise EnrollmentFailed(f"the platform sent an unusable config: {exc}") from None
    return config, str(body["api_token"])


def save(config: GatewayConfig, api_token: str, config_path: Path, api_url: str) -> Path:
    """Write the config (with ``api_url``) and the token beside it (mode 0600); returns the
    token file's path."""
    token_path = config_path.with_name(config_path.name + ".token")
    config_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(token_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(api_token + "\n")
    final = msgspec.structs.replace(config, api_url=api_url, api_token_file=str(token_path),
                                   upload="ingest")
    config_path.write_text(dump_config(final))
    return token_path


def read_token(config: GatewayConfig) -> str | None:
    """The API token from the config's ``api_token_file`` (None when it names none)."""
    if not config.api_token_file:
        return None
    path = Path(config.api_token_file)
    try:
        token = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"cannot read the gateway's token file {path}: "
                          f"{exc.strerror or exc}") from None
    if not token:
        raise ConfigError(f"the gateway's token file {path} is empty")
    return token
