"""Reading the study registry: studies, sites, subjects, devices and gateways of a study,
and whether a code belongs to a study. (Creating them: ``storage/registry.py``.)"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from storage.queries._rows import exists, fetch_all, fetch_one


@dataclass(frozen=True, slots=True)
class StudyRow:
    code: str
    name: str


@dataclass(frozen=True, slots=True)
class SiteRow:
    code: str
    name: str


@dataclass(frozen=True, slots=True)
class SubjectRow:
    code: str
    site: str
    arm: str | None
    status: str


@dataclass(frozen=True, slots=True)
class DeviceRow:
    id: str
    device_type: str
    serial: str | None
    model: str | None
    mac: str | None


@dataclass(frozen=True, slots=True)
class GatewayRow:
    id: str
    site: str | None
    status: str
    last_seen_at: datetime | None


async def get_study(conn: AsyncConnection[Any], *, code: str) -> StudyRow | None:
    return await fetch_one(conn, StudyRow, "SELECT code, name FROM studies WHERE code = %s",
                           (code,))


async def study_exists(conn: AsyncConnection[Any], *, code: str) -> bool:
    return await exists(conn, "SELECT 1 FROM studies WHERE code = %s", (code,))


async def study_settings(conn: AsyncConnection[Any], *,
                         studies: list[str]) -> dict[str, Any]:
    """The ``settings`` of each of ``studies`` that exists, by study code."""
    cur = await conn.execute("SELECT code, settings FROM studies WHERE code = ANY(%s)",
                             (studies,))
    return dict(await cur.fetchall())


async def sites(conn: AsyncConnection[Any], *, study: str) -> list[SiteRow]:
    return await fetch_all(conn, SiteRow,
                           "SELECT code, name FROM sites WHERE study_code = %s ORDER BY code",
                           (study,))


async def site_codes(conn: AsyncConnection[Any], *, study: str) -> set[str]:
    cur = await conn.execute("SELECT code FROM sites WHERE study_code = %s", (study,))
    return {code for (code,) in await cur.fetchall()}


async def site_in_study(conn: AsyncConnection[Any], *, study: str, site: str) -> bool:
    return await exists(conn, "SELECT 1 FROM sites WHERE study_code = %s AND code = %s",
                        (study, site))


async def subjects(conn: AsyncConnection[Any], *, study: str) -> list[SubjectRow]:
    return await fetch_all(
        conn, SubjectRow,
        "SELECT code, site_code AS site, arm, status FROM subjects WHERE study_code = %s"
        " ORDER BY code", (study,))


async def subject_in_study(conn: AsyncConnection[Any], *, study: str, subject: str) -> bool:
    return await exists(conn, "SELECT 1 FROM subjects WHERE code = %s AND study_code = %s",
                        (subject, study))


async def devices(conn: AsyncConnection[Any], *, study: str) -> list[DeviceRow]:
    return await fetch_all(
        conn, DeviceRow,
        "SELECT id, device_type, serial, model, mac FROM devices WHERE study_code = %s"
        " ORDER BY id", (study,))


async def device_in_study(conn: AsyncConnection[Any], *, study: str, device_id: str) -> bool:
    return await exists(conn, "SELECT 1 FROM devices WHERE id = %s AND study_code = %s",
                        (device_id, study))


async def gateways(conn: AsyncConnection[Any], *, study: str) -> list[GatewayRow]:
    return await fetch_all(
        conn, GatewayRow,
        "SELECT id, site_code AS site, status, last_seen_at FROM gateways"
        " WHERE study_code = %s ORDER BY id", (study,))


async def gateway_in_study(conn: AsyncConnection[Any], *, study: str,
                           gateway_id: str) -> bool:
    return await exists(conn, "SELECT 1 FROM gateways WHERE id = %s AND study_code = %s",
                        (gateway_id, study))
