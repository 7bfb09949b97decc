"""The append-only, hash-chained audit trail (who, when, what, why).

Each row's hash is SHA-256 over the previous row's hash and the row's canonical JSON, so
changing, removing or reordering any row breaks every hash after it; :func:`verify`
recomputes the chain. Appends take a transaction-level advisory lock, so the chain stays
linear under concurrent writers. (The table also refuses UPDATE and DELETE by trigger.)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
from psycopg import AsyncConnection

_LOCK = 0x7477_4175  # advisory lock key: "twAu"
_COLUMNS = "id, at, actor, role, action, entity_type, entity_id, reason, details, prev_hash, hash"


def _canonical(at: datetime, actor: str, role: str, action: str, entity_type: str,
               entity_id: str, reason: str | None, details: dict[str, Any]) -> bytes:
    return msgspec.json.encode([at.astimezone(UTC).isoformat(), actor, role, action,
                                entity_type, entity_id, reason, details], order="sorted")


def chain_hash(prev: bytes | None, canonical: bytes) -> bytes:
    return hashlib.sha256((prev or b"") + canonical).digest()


async def append(conn: AsyncConnection[Any], *, actor: str, role: str, action: str,
                 entity_type: str, entity_id: str, reason: str | None = None,
                 details: dict[str, Any] | None = None) -> int:
    """Add an entry (inside the caller's transaction); returns its id."""
    details = details or {}
    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
    row = await (await conn.execute(
        "SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1")).fetchone()
    prev = bytes(row[0]) if row else None
    at = datetime.now(UTC)
    digest = chain_hash(prev, _canonical(at, actor, role, action, entity_type, entity_id,
                                         reason, details))
    cur = await conn.execute(
        "INSERT INTO audit_log (at, actor, role, action, entity_type, entity_id, reason,"
        " details, prev_hash, hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s)"
        " RETURNING id",
        (at, actor, role, action, entity_type, entity_id, reason,
         msgspec.json.encode(details).decode(), prev, digest))
    return int((await cur.fetchone())[0])  # type: ignore[index]


@dataclass(frozen=True)
class Verification:
    ok: bool
    entries: int
    first_bad_id: int | None = None
    problem: str | None = None


async def verify(conn: AsyncConnection[Any]) -> Verification:
    """Recompute the chain from the first entry; report the first entry that does not fit."""
    prev: bytes | None = None
    count = 0
    async with conn.cursor(name="audit_verify") as cur:
        await cur.execute(f"SELECT {_COLUMNS} FROM audit_log ORDER BY id")
        async for (entry_id, at, actor, role, action, entity_type, entity_id, reason, details,
                   prev_hash, digest) in cur:
            count += 1
            if (bytes(prev_hash) if prev_hash is not None else None) != prev:
                return Verification(False, count, entry_id, "prev_hash does not match the entry before")
            expected = chain_hash(prev, _canonical(at, actor, role, action, entity_type,
                                                   entity_id, reason, details))
            if bytes(digest) != expected:
                return Verification(False, count, entry_id, "hash does not match the entry's content")
            prev = expected
    return Verification(True, count)


async def entries(conn: AsyncConnection[Any], *, entity_type: str | None = None,
                  entity_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    cur = await conn.execute(
        "SELECT id, at, actor, role, action, entity_type, entity_id, reason, details"
        " FROM audit_log WHERE (%(t)s::text IS NULL OR entity_type = %(t)s)"
        " AND (%(e)s::text IS NULL OR entity_id = %(e)s) ORDER BY id DESC LIMIT %(n)s",
        {"t": entity_type, "e": entity_id, "n": limit})
    names = ["id", "at", "actor", "role", "action", "entity_type", "entity_id", "reason",
             "details"]
    return [dict(zip(names, row, strict=True)) for row in await cur.fetchall()]
