"""Opaque keyset cursors for export pages: the last row's sort key as URL-safe base64 JSON."""

from __future__ import annotations

import base64

import msgspec


class CursorError(ValueError):
    """Text that is not a cursor this API handed out."""


def encode_cursor(parts: list[str | int]) -> str:
    raw = msgspec.json.encode(parts)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str, length: int) -> list[str | int]:
    """The cursor's parts; ``length`` is how many the page's sort key has."""
    try:
        parts = msgspec.json.decode(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)),
                                    type=list[str | int])
    except (ValueError, TypeError, msgspec.DecodeError) as exc:
        raise CursorError(f"not an export cursor ({exc})") from None
    if len(parts) != length:
        raise CursorError(f"not an export cursor (expected {length} parts, got {len(parts)})")
    return parts
