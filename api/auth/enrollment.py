"""Enrollment tokens: single-use and short-lived, exchanged by a new gateway for its
configuration and a gateway API token (``te_<id>_<secret>``, hashed like API tokens)."""

from __future__ import annotations

import hmac
import re
import secrets
from datetime import UTC, datetime, timedelta

from psycopg import AsyncConnection

from api.auth.tokens import secret_hash
from storage.queries import tokens as stored_tokens

_FORMAT = re.compile(r"^te_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
DEFAULT_TTL = timedelta(minutes=15)


class EnrollmentError(Exception):
    """The token cannot be exchanged; the message says why (unknown, expired, used)."""


async def issue(conn: AsyncConnection[object], *, study: str, gateway_id: str,
                created_by: str, ttl: timedelta = DEFAULT_TTL) -> tuple[str, datetime]:
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    expires_at = datetime.now(UTC) + ttl
    await stored_tokens.insert_enrollment_token(
        conn, token_id=token_id, secret_hash=secret_hash(token_id, secret), study=study,
        gateway_id=gateway_id, created_by=created_by, expires_at=expires_at)
    return f"te_{token_id}_{secret}", expires_at


async def redeem(conn: AsyncConnection[object], token: str) -> tuple[str, str]:
    """Mark the token used (inside the caller's transaction); returns (study, gateway id)."""
    match = _FORMAT.match(token)
    if match is None:
        raise EnrollmentError("not an enrollment token")
    token_id, secret = match.groups()
    row = await stored_tokens.lock_enrollment_token(conn, token_id=token_id)
    if row is None or not hmac.compare_digest(row.secret_hash, secret_hash(token_id, secret)):
        raise EnrollmentError("unknown enrollment token")
    if row.used_at is not None:
        raise EnrollmentError("enrollment token already used")
    if row.expires_at <= datetime.now(UTC):
        raise EnrollmentError("enrollment token expired")
    await stored_tokens.mark_enrollment_token_used(conn, token_id=token_id)
    return row.study, row.gateway_id
