"""Persisted watermarks per gateway and device, advanced in the sink's transaction.

A gateway numbers its batches per device with contiguous ranges. The watermark only moves
over contiguous stored ranges; a range stored after a gap (a batch lost by the broker and
re-sent later, or out-of-order delivery) waits in ``pending`` until the gap is filled.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec
from psycopg import AsyncConnection


def advance(through: int, pending: list[list[int]], ranges: Iterable[tuple[int, int]],
            ) -> tuple[int, list[list[int]]]:
    """Pure: fold stored ``ranges`` into (``through``, ``pending``); returns the new pair.
    Pending spans are kept merged (overlapping or adjacent ones become one), so a gap that
    stays open holds a few spans, not one per batch stored after it."""
    merged: list[list[int]] = []
    for lo, hi in sorted([list(r) for r in pending] + [[a, b] for a, b in ranges]):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    kept: list[list[int]] = []
    for lo, hi in merged:
        if hi <= through:
            continue
        if lo <= through + 1:
            through = hi
        else:
            kept.append([lo, hi])
    return through, kept


async def record_many(conn: AsyncConnection[Any],
                      ranges: dict[tuple[str, str], list[tuple[int, int]]],
                      ) -> dict[tuple[str, str], int]:
    """Fold stored ranges into each (gateway, device) pair's watermark (row-locked);
    return the new values. Three statements, whatever the number of pairs: a sink batch
    touches one pair per envelope's device, and a round trip each was most of a batch's
    database time. Rows are locked in key order, so concurrent workers cannot deadlock
    on them."""
    if not ranges:
        return {}
    keys = sorted(ranges)
    gateways = [g for g, _d in keys]
    devices = [d for _g, d in keys]
    await conn.execute(
        "INSERT INTO gateway_watermarks (gateway_id, device_id)"
        " SELECT * FROM unnest(%s::text[], %s::text[]) ON CONFLICT DO NOTHING",
        (gateways, devices))
    cur = await conn.execute(
        "SELECT w.gateway_id, w.device_id, w.persisted_through, w.pending"
        " FROM gateway_watermarks w"
        " JOIN unnest(%s::text[], %s::text[]) AS k(gateway_id, device_id)"
        " USING (gateway_id, device_id)"
        " ORDER BY w.gateway_id, w.device_id FOR UPDATE OF w", (gateways, devices))
    found = {(g, d): (int(t), list(p)) for g, d, t, p in await cur.fetchall()}
    new: dict[tuple[str, str], int] = {}
    pendings: list[str] = []
    for key in keys:
        through, pending = advance(*found[key], ranges[key])
        new[key] = through
        pendings.append(msgspec.json.encode(pending).decode())
    await conn.execute(
        "UPDATE gateway_watermarks w SET persisted_through = k.through,"
        " pending = k.pending::jsonb, updated_at = now()"
        " FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::text[])"
        " AS k(gateway_id, device_id, through, pending)"
        " WHERE w.gateway_id = k.gateway_id AND w.device_id = k.device_id",
        (gateways, devices, [new[k] for k in keys], pendings))
    return new


async def for_gateways(conn: AsyncConnection[Any], gateway_ids: Iterable[str],
                       ) -> dict[tuple[str, str], int]:
    """(gateway, device) → persisted_through for several gateways in one query."""
    cur = await conn.execute(
        "SELECT gateway_id, device_id, persisted_through FROM gateway_watermarks"
        " WHERE gateway_id = ANY(%s)", (sorted(set(gateway_ids)),))
    return {(g, d): int(t) for g, d, t in await cur.fetchall()}
