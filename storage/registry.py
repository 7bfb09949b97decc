"""The study registry: studies, sites, subjects, devices, gateways and enrollments.

Creation is idempotent (``ON CONFLICT DO NOTHING``; each function says whether it created
the row) so seeding a demo study or re-running an import is safe. Subjects are
pseudonymous codes only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from psycopg import AsyncConnection
from psycopg.types.range import Range


async def _insert(conn: AsyncConnection[Any], sql: str, params: tuple[Any, ...]) -> bool:
    cur = await conn.execute(sql + " ON CONFLICT DO NOTHING", params)
    return cur.rowcount == 1


async def create_study(conn: AsyncConnection[Any], code: str, name: str,
                       settings: dict[str, Any] | None = None) -> bool:
    return await _insert(conn, "INSERT INTO studies (code, name, settings) VALUES (%s, %s, %s)",
                         (code, name, msgspec.json.encode(settings or {}).decode()))


async def create_site(conn: AsyncConnection[Any], study: str, code: str, name: str) -> bool:
    return await _insert(conn, "INSERT INTO sites (study_code, code, name) VALUES (%s, %s, %s)",
                         (study, code, name))


async def create_subject(conn: AsyncConnection[Any], study: str, site: str, code: str,
                         arm: str | None = None) -> bool:
    return await _insert(
        conn, "INSERT INTO subjects (code, study_code, site_code, arm) VALUES (%s, %s, %s, %s)",
        (code, study, site, arm))


async def create_device(conn: AsyncConnection[Any], study: str, device_id: str,
                        device_type: str, *, serial: str | None = None,
                        model: str | None = None, mac: str | None = None) -> bool:
    return await _insert(
        conn, "INSERT INTO devices (id, study_code, device_type, serial, model, mac)"
        " VALUES (%s, %s, %s, %s, %s, %s)", (device_id, study, device_type, serial, model, mac))


async def create_gateway(conn: AsyncConnection[Any], study: str, gateway_id: str,
                         site: str | None = None) -> bool:
    return await _insert(
        conn, "INSERT INTO gateways (id, study_code, site_code) VALUES (%s, %s, %s)",
        (gateway_id, study, site))


async def enroll(conn: AsyncConnection[Any], *, study: str, subject: str, device_id: str,
                 gateway_id: str, start: datetime | None, end: datetime | None = None) -> bool:
    """Assign a device to a subject (through a gateway) for [start, end); False if an
    enrollment of the device already covers part of that period."""
    cur = await conn.execute(
        "INSERT INTO enrollments (study_code, subject_code, device_id, gateway_id, valid)"
        " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
        (study, subject, device_id, gateway_id, Range(start, end, "[)")))
    return cur.rowcount == 1
