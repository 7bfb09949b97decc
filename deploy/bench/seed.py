"""A small study in the registry for the stream tests: one site, subjects S-1..S-n, each
with a smartwatch (W-i), a CGM (C-i) and an ECG patch (E-i) through gateway GW-i."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import psycopg

from storage import registry

STUDY = "ST-1"


async def seed_study(conn: psycopg.AsyncConnection[object], *, subjects: int = 1,
                     start: datetime | None = None,
                     settings: dict[str, Any] | None = None) -> None:
    async with conn.transaction():
        await registry.create_study(conn, STUDY, "Stream test study", settings)
        await registry.create_site(conn, STUDY, "SITE-1", "Site one")
        for i in range(1, subjects + 1):
            subject, gateway = f"S-{i}", f"GW-{i}"
            await registry.create_subject(conn, STUDY, "SITE-1", subject)
            await registry.create_gateway(conn, STUDY, gateway, "SITE-1")
            for prefix, kind in (("W", "smartwatch"), ("C", "cgm"), ("E", "ecg_patch"),
                                 ("D", "smartwatch")):
                device = f"{prefix}-{i}" if prefix != "D" else f"D-{i}"
                await registry.create_device(conn, STUDY, device, kind)
                await registry.enroll(conn, study=STUDY, subject=subject, device_id=device,
                                      gateway_id=gateway, start=start)
