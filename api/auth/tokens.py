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
from datetime import UTC, datetime, timedelta

from psycopg import AsyncConnection

from api.auth.roles import Principal, Role
from storage.queries import tokens as stored_tokens
from storage.queries.tokens import StoredToken

# A gateway token lives this long (enrollment, rotation); gateways rotate theirs well before
# (gateway/credentials.py), so an expiry only ever ends a gateway that stopped rotating.
GATEWAY_TOKEN_TTL = timedelta(days=90)
# A rotated token keeps working this long: a gateway that crashed before saving its new
# token asks again with the old one.
ROTATION_GRACE = timedelta(hours=1)

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
    await stored_tokens.insert_token(
        conn, token_id=token_id, secret_hash=secret_hash(token_id, secret), role=str(role),
        study=study, gateway_id=gateway_id, name=name, expires_at=expires_at)
    return f"tw_{token_id}_{secret}"


async def enroll_gateway_token(conn: AsyncConnection[object], *, study: str, gateway_id: str,
                               name: str, ttl: timedelta | None = GATEWAY_TOKEN_TTL) -> str:
    """A new token for a gateway, revoking those it had (re-enrolling a gateway, or
    replacing its hub, leaves one valid credential: the newest)."""
    await stored_tokens.revoke_gateway_tokens(conn, gateway_id=gateway_id)
    expires_at = None if ttl is None else datetime.now(UTC) + ttl
    return await create_token(conn, role=Role.GATEWAY, study=study, gateway_id=gateway_id,
                              name=name, expires_at=expires_at)


async def rotate_gateway_token(conn: AsyncConnection[object], *, presented: str, study: str,
                               gateway_id: str, now: datetime | None = None,
                               ) -> tuple[str, datetime]:
    """A new token for a gateway (expiring after GATEWAY_TOKEN_TTL) and its expiry; the
    token it presented stops working ROTATION_GRACE from now."""
    now = now or datetime.now(UTC)
    expires_at = now + GATEWAY_TOKEN_TTL
    token = await create_token(conn, role=Role.GATEWAY, study=study, gateway_id=gateway_id,
                               name="rotated", expires_at=expires_at)
    await stored_tokens.expire_token_by(conn, token_id=presented, expires_at=now + ROTATION_GRACE)
    return token, expires_at


def parse(token: str) -> tuple[str, str] | None:
    """(token id, secret) of a well-formed API token; None for anything else."""
    match = _FORMAT.match(token)
    return None if match is None else (match.group(1), match.group(2))


def check(row: StoredToken | None, token_id: str, secret: str,
          now: datetime | None = None) -> Principal | None:
    """The principal if ``secret`` matches the stored row and the token is unexpired and
    unrevoked at ``now``; None otherwise (the same hashing work either way)."""
    presented = secret_hash(token_id, secret)
    if row is None or not hmac.compare_digest(row.secret_hash, presented):
        return None
    now = now or datetime.now(UTC)
    if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        return None
    return Principal(token_id, Role(row.role), row.study, row.gateway_id)


async def authenticate(conn: AsyncConnection[object], token: str) -> Principal | None:
    """The principal of a valid, unexpired, unrevoked token; None otherwise."""
    parsed = parse(token)
    if parsed is None:
        return None
    token_id, secret = parsed
    return check(await stored_tokens.find_token(conn, token_id=token_id), token_id, secret)


async def revoke(conn: AsyncConnection[object], token_id: str) -> bool:
    return await stored_tokens.revoke_token(conn, token_id=token_id)
