"""Opaque bearer tokens: ``tw_<id>_<secret>``, stored as HMAC-SHA256(id, secret).

The secret has 256 bits of entropy, so a fast keyed hash is enough (no password
stretching needed); the id makes lookups an index probe and keys the hash, so equal
secrets never hash alike. Comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import UTC, datetime

from psycopg import AsyncConnection

from api.auth.roles import Principal, Role

_FORMAT = re.compile(r"^tw_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")


def secret_hash(token_id: str, secret: str) -> str:
    """HMAC-SHA256 of the secret keyed by the token id (hex)."""
    return hmac.new(token_id.encode(), secret.encode(), hashlib.sha256).hexdigest()


async def create_token(conn: AsyncConnection[object], *, role: Role, study: str | None,
                       gateway_id: str | None = None, name: str = "",
                       expires_at: datetime | None = None) -> str:
    """Store a new token and return it (the only time the secret is seen)."""
    if role is Role.GATEWAY and gateway_id is None:
        raise ValueError("a gateway token needs a gateway id")
    if role is not Role.GATEWAY and gateway_id is not None:
        raise ValueError("only gateway tokens are bound to a gateway")
    if role is not Role.ADMIN and study is None:
        raise ValueError(f"a {role} token needs a study")
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    await conn.execute(
        "INSERT INTO api_tokens (id, secret_hash, role, study_code, gateway_id, name,"
        " expires_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (token_id, secret_hash(token_id, secret), str(role), study, gateway_id, name, expires_at))
    return f"tw_{token_id}_{secret}"


async def authenticate(conn: AsyncConnection[object], token: str) -> Principal | None:
    """The principal of a valid, unexpired, unrevoked token; None otherwise."""
    match = _FORMAT.match(token)
    if match is None:
        return None
    token_id, secret = match.groups()
    cur = await conn.execute(
        "SELECT secret_hash, role, study_code, gateway_id, expires_at, revoked_at"
        " FROM api_tokens WHERE id = %s", (token_id,))
    row = await cur.fetchone()
    if row is None:
        secret_hash(token_id, secret)  # same work either way
        return None
    stored, role, study, gateway_id, expires_at, revoked_at = row  # type: ignore[misc]
    if not hmac.compare_digest(stored, secret_hash(token_id, secret)):
        return None
    if revoked_at is not None or (expires_at is not None and expires_at <= datetime.now(UTC)):
        return None
    return Principal(token_id, Role(role), study, gateway_id)


async def revoke(conn: AsyncConnection[object], token_id: str) -> bool:
    cur = await conn.execute(
        "UPDATE api_tokens SET revoked_at = now() WHERE id = %s AND revoked_at IS NULL",
        (token_id,))
    return cur.rowcount == 1
