"""API tokens and enrollment tokens as stored: an id, the hash of the secret, and their state.

Hashing, comparison and expiry checks belong to the caller (``api/auth``); this module only
stores and finds rows. A row is found by id alone so that a wrong secret costs the same
work as an unknown id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from storage import credential_events
from storage.queries._rows import fetch_all, fetch_one


@dataclass(frozen=True, slots=True)
class StoredToken:
    """An ``api_tokens`` row without its name."""

    secret_hash: str
    role: str
    study: str | None
    gateway_id: str | None
    expires_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class TokenSummary:
    """An ``api_tokens`` row as listed to administrators (never its hash)."""

    id: str
    role: str
    study: str | None
    gateway_id: str | None
    name: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class StoredEnrollmentToken:
    """An ``enrollment_tokens`` row, as the exchange needs it."""

    secret_hash: str
    study: str
    gateway_id: str
    expires_at: datetime
    used_at: datetime | None


async def insert_token(conn: AsyncConnection[Any], *, token_id: str, secret_hash: str,
                       role: str, study: str | None, gateway_id: str | None, name: str,
                       expires_at: datetime | None) -> None:
    await conn.execute(
        "INSERT INTO api_tokens (id, secret_hash, role, study_code, gateway_id, name,"
        " expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (token_id, secret_hash, role, study, gateway_id, name, expires_at))


async def find_token(conn: AsyncConnection[Any], *, token_id: str) -> StoredToken | None:
    return await fetch_one(
        conn, StoredToken,
        "SELECT secret_hash, role, study_code AS study, gateway_id, expires_at, revoked_at"
        " FROM api_tokens WHERE id = %s", (token_id,))


async def revoke_token(conn: AsyncConnection[Any], *, token_id: str) -> bool:
    """Revoke a token not yet revoked; False if there is none such."""
    cur = await conn.execute(
        "UPDATE api_tokens SET revoked_at = now() WHERE id = %s AND revoked_at IS NULL",
        (token_id,))
    if cur.rowcount != 1:
        return False
    await credential_events.announce(conn, credential_events.token_changed(token_id))
    return True


async def expire_token_by(conn: AsyncConnection[Any], *, token_id: str,
                          expires_at: datetime) -> None:
    """Make a token expire at ``expires_at`` at the latest (a rotated one's grace)."""
    await conn.execute(
        "UPDATE api_tokens SET expires_at = LEAST(coalesce(expires_at, %s), %s) WHERE id = %s",
        (expires_at, expires_at, token_id))
    await credential_events.announce(conn, credential_events.token_changed(token_id))


async def list_tokens(conn: AsyncConnection[Any], *, study: str | None,
                      include_revoked: bool = False) -> list[TokenSummary]:
    """Tokens of one study (None: every token), newest first."""
    return await fetch_all(
        conn, TokenSummary,
        "SELECT id, role, study_code AS study, gateway_id, name, created_at, expires_at,"
        " revoked_at FROM api_tokens"
        " WHERE (%(study)s::text IS NULL OR study_code = %(study)s)"
        " AND (%(all)s OR revoked_at IS NULL) ORDER BY created_at DESC, id",
        {"study": study, "all": include_revoked})


async def token_study(conn: AsyncConnection[Any], *, token_id: str) -> tuple[bool, str | None]:
    """(exists, its study) of a token."""
    cur = await conn.execute("SELECT study_code FROM api_tokens WHERE id = %s", (token_id,))
    row = await cur.fetchone()
    return (False, None) if row is None else (True, row[0])


async def revoke_gateway_tokens(conn: AsyncConnection[Any], *, gateway_id: str) -> int:
    """Revoke every token of a gateway still valid (it is enrolled afresh, or retired);
    returns how many."""
    cur = await conn.execute(
        "UPDATE api_tokens SET revoked_at = now() WHERE gateway_id = %s AND revoked_at IS NULL",
        (gateway_id,))
    await credential_events.announce(conn, credential_events.gateway_changed(gateway_id))
    return cur.rowcount


async def insert_enrollment_token(conn: AsyncConnection[Any], *, token_id: str,
                                  secret_hash: str, study: str, gateway_id: str,
                                  created_by: str, expires_at: datetime) -> None:
    await conn.execute(
        "INSERT INTO enrollment_tokens (id, secret_hash, study_code, gateway_id, created_by,"
        " expires_at) VALUES (%s, %s, %s, %s, %s, %s)",
        (token_id, secret_hash, study, gateway_id, created_by, expires_at))


async def lock_enrollment_token(conn: AsyncConnection[Any], *,
                                token_id: str) -> StoredEnrollmentToken | None:
    """The token's row, locked (``FOR UPDATE``) until the caller's transaction ends, so two
    exchanges of one token cannot both see it unused."""
    return await fetch_one(
        conn, StoredEnrollmentToken,
        "SELECT secret_hash, study_code AS study, gateway_id, expires_at, used_at"
        " FROM enrollment_tokens WHERE id = %s FOR UPDATE", (token_id,))


async def mark_enrollment_token_used(conn: AsyncConnection[Any], *, token_id: str) -> None:
    await conn.execute("UPDATE enrollment_tokens SET used_at = now() WHERE id = %s", (token_id,))
