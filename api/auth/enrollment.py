"""Enrollment tokens: single-use and short-lived, exchanged by a new gateway for its
configuration and a gateway API token (``te_<id>_<secret>``, hashed like API tokens)."""

from __future__ import annotations

import hmac
import re
import secrets
from datetime import UTC, datetime, timedelta

from psycopg import AsyncConnection

from api.auth.tokens import secret_hash

_FORMAT = re.compile(r"^te_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
DEFAULT_TTL = timedelta(minutes=15)


class EnrollmentError(Exception):
    """The token cannot be exchanged; the message says why (unknown, expired, used)."""


async def issue(conn: AsyncConnection[object], *, study: str, gateway_id: str,
                created_by: str, ttl: timedelta = DEFAULT_TTL) -> tuple[str, datetime]:
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    expires_at = datetime.now(UTC) + ttl
    await conn.execute(
        "INSERT INTO enrollment_tokens (id, secret_hash, study_code, gateway_id, created_by,"
        " expires_at) VALUES (%s, %s, %s, %s, %s, %s)",
        (token_id, secret_hash(token_id, secret), study, gateway_id, created_by, expires_at))
    return f"te_{token_id}_{secret}", expires_at


async def redeem(conn: AsyncConnection[object], token: str) -> tuple[str, str]:
    """Mark the token used (inside the caller's transaction); returns (study, gateway id)."""
    match = _FORMAT.match(token)
    if match is None:
        raise EnrollmentError("not an enrollment token")
    token_id, secret = match.groups()
    row = await (await conn.execute(
        "SELECT secret_hash, study_code, gateway_id, expires_at, used_at"
        " FROM enrollment_tokens WHERE id = %s FOR UPDATE", (token_id,))).fetchone()
    if row is None or not hmac.compare_digest(row[0], secret_hash(token_id, secret)):  # type: ignore[index]
        raise EnrollmentError("unknown enrollment token")
    _hash, study, gateway_id, expires_at, used_at = row  # type: ignore[misc]
    if used_at is not None:
        raise EnrollmentError("enrollment token already used")
    if expires_at <= datetime.now(UTC):
        raise EnrollmentError("enrollment token expired")
    await conn.execute("UPDATE enrollment_tokens SET used_at = now() WHERE id = %s", (token_id,))
    return study, gateway_id
