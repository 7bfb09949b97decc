"""Webhook signatures: HMAC-SHA256 over the timestamp and the body, so a receiver can
tell the sender, that the body is intact, and that the request is fresh (replay
protection: a signature older than the tolerance is refused; the idempotency key lets the
receiver drop a repeat within it).

Header ``X-Trialwire-Signature: t=<unix seconds>,v1=<hex HMAC of "<t>.<body>">``, the
scheme of Stripe's and GitHub's webhooks, so receivers know how to check it. Pure.
"""

from __future__ import annotations

import hashlib
import hmac

from stream.errors import StreamError

HEADER = "X-Trialwire-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
TOLERANCE_S = 300


class SignatureError(StreamError):
    """A webhook request whose signature does not prove it (``reason`` says why)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for ``body`` sent at ``timestamp`` (unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, *, now: float,
           tolerance_s: float = TOLERANCE_S) -> int:
    """Check a received signature header; returns its timestamp or raises
    :class:`SignatureError` (``malformed``, ``stale``, ``mismatch``)."""
    fields: dict[str, str] = {}
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if sep:
            fields.setdefault(key, value)
    try:
        timestamp = int(fields["t"])
        given = fields["v1"]
    except (KeyError, ValueError):
        raise SignatureError("malformed", "signature header needs t=<seconds>,v1=<hex>") from None
    if abs(now - timestamp) > tolerance_s:
        raise SignatureError("stale", f"signed {now - timestamp:.0f} s ago, over the "
                                      f"{tolerance_s:.0f} s tolerance")
    expected = sign(secret, timestamp, body).partition(",v1=")[2]
    if not hmac.compare_digest(expected, given):
        raise SignatureError("mismatch", "signature does not match the body")
    return timestamp
