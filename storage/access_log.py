"""The data-access log: every read of subject-level data or exports (who, role, what, when)."""

from __future__ import annotations

from typing import Any

import msgspec
from psycopg import AsyncConnection


async def record(conn: AsyncConnection[Any], *, token_id: str, role: str, study: str,
                 action: str, subject: str | None = None,
                 details: dict[str, Any] | None = None) -> None:
    await conn.execute(
        "INSERT INTO data_access_log (token_id, role, study_code, action, subject_code, details)"
        " VALUES (%s, %s, %s, %s, %s, %s::jsonb)",
        (token_id, role, study, action, subject,
         msgspec.json.encode(details or {}).decode()))


async def entries(conn: AsyncConnection[Any], *, study: str, subject: str | None = None,
                  limit: int = 100) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT id, at, token_id, role, action, subject_code, details FROM data_access_log"
        " WHERE study_code = %s AND (%s::text IS NULL OR subject_code = %s)"
        " ORDER BY id DESC LIMIT %s", (study, subject, subject, limit))
    names = ["id", "at", "token_id", "role", "action", "subject", "details"]
    return [dict(zip(names, row, strict=True)) for row in await cur.fetchall()]
