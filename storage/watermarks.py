"""Persisted watermarks per gateway and device, advanced in the sink's transaction.

A gateway numbers its batches per device with contiguous ranges. The watermark only moves
over contiguous stored ranges; a range stored after a gap (a batch lost by the broker and
re-sent later, or out-of-order delivery) waits in ``pending`` until the gap is filled.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec
from psycopg import AsyncConnection


def advance(through: int, pending: list[list[int]], ranges: Iterable[tuple[int, int]],
            ) -> tuple[int, list[list[int]]]:
    """Pure: fold stored ``ranges`` into (``through``, ``pending``); returns the new pair."""
    spans = sorted([list(r) for r in pending] + [[a, b] for a, b in ranges])
    kept: list[list[int]] = []
    for lo, hi in spans:
        if hi <= through:
            continue
        if lo <= through + 1:
            through = hi
        else:
            kept.append([lo, hi])
    # A pending span may now touch the new watermark.
    changed = True
    while changed:
        changed = False
        rest = []
        for lo, hi in kept:
            if lo <= through + 1:
                through = max(through, hi)
                changed = True
            else:
                rest.append([lo, hi])
        kept = rest
    return through, kept


async def record(conn: AsyncConnection[object], gateway_id: str, device_id: str,
                 ranges: list[tuple[int, int]]) -> int:
    """Fold stored ranges into the device's watermark (row-locked); return the new value."""
    cur = await conn.execute(
        "INSERT INTO gateway_watermarks (gateway_id, device_id) VALUES (%s, %s)"
        " ON CONFLICT DO NOTHING", (gateway_id, device_id))
    cur = await conn.execute(
        "SELECT persisted_through, pending FROM gateway_watermarks"
        " WHERE gateway_id = %s AND device_id = %s FOR UPDATE", (gateway_id, device_id))
    row = await cur.fetchone()
    assert row is not None
    through, pending = advance(int(row[0]), list(row[1]), ranges)  # type: ignore[arg-type,index]
    await conn.execute(
        "UPDATE gateway_watermarks SET persisted_through = %s, pending = %s::jsonb,"
        " updated_at = now() WHERE gateway_id = %s AND device_id = %s",
        (through, msgspec.json.encode(pending).decode(), gateway_id, device_id))
    return through


async def for_gateway(conn: AsyncConnection[object], gateway_id: str) -> dict[str, int]:
    cur = await conn.execute(
        "SELECT device_id, persisted_through FROM gateway_watermarks WHERE gateway_id = %s",
        (gateway_id,))
    return {d: int(t) for d, t in await cur.fetchall()}  # type: ignore[misc]


async def for_gateways(conn: AsyncConnection[object], gateway_ids: Iterable[str],
                       ) -> dict[tuple[str, str], int]:
    """(gateway, device) → persisted_through for several gateways in one query."""
    cur = await conn.execute(
        "SELECT gateway_id, device_id, persisted_through FROM gateway_watermarks"
        " WHERE gateway_id = ANY(%s)", (sorted(set(gateway_ids)),))
    return {(g, d): int(t) for g, d, t in await cur.fetchall()}  # type: ignore[misc]
