"""The demo study ``trialwire up`` seeds: one site, a subject per simulated home, each with
its wearables and gateway enrolled; re-running finds everything already there."""

from __future__ import annotations

from datetime import datetime

from psycopg import AsyncConnection

from deploy.eval.homes import gateway_config, register
from devices.catalog import DeviceType
from stream.contract.gateway_config import GatewayConfig

STUDY = "DEMO"
# What a demo home wears: a watch (heart rate, SpO2, temperature), a CGM and an ECG patch.
DEVICES = (DeviceType.SMARTWATCH, DeviceType.CGM, DeviceType.ECG_PATCH)


def home_seeds(homes: int) -> list[int]:
    return list(range(1, homes + 1))


def home_config(seed: int, devices: tuple[DeviceType, ...] = DEVICES) -> GatewayConfig:
    """The gateway of demo home ``seed`` (subject ``S-000<seed>``, gateway ``GW-000<seed>``)."""
    return gateway_config(seed, devices, study=STUDY, status_interval_s=10.0)


async def seed(conn: AsyncConnection[object], homes: int, *, since: datetime) -> None:
    """Register every home's subject, gateway and devices (no-ops when present)."""
    for seed_ in home_seeds(homes):
        await register(conn, home_config(seed_), since=since, study_name="trialwire demo")
