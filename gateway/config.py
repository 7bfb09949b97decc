"""Gateway identity and configuration: which subject, which devices, where to upload.

Loaded from a YAML or JSON file (``trialwire gateway run --config FILE``), or written by
enrollment (``trialwire gateway enroll``). Kafka credentials come from the environment
(``TRIALWIRE_KAFKA_*``), never from this file.
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import yaml

from gateway.errors import ConfigError
from stream.contract.gateway_config import GatewayConfig


def load_config(path: Path) -> GatewayConfig:
    """Read and validate a config file; errors name the file and the offending field."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read gateway config {path}: {exc.strerror}") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML/JSON: {exc}") from exc
    try:
        config = msgspec.convert(raw, GatewayConfig)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    addresses = [d.address.upper() for d in config.devices]
    if len(set(addresses)) != len(addresses):
        raise ConfigError(f"{path}: two devices share an address")
    ids = [d.id for d in config.devices]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"{path}: two devices share an id")
    return config


def dump_config(config: GatewayConfig) -> str:
    text: str = yaml.safe_dump(msgspec.to_builtins(config), sort_keys=False)
    return text
