"""Persisted watermarks for many (gateway, device) pairs in one go, against PostgreSQL:
the same answers as one pair at a time, gaps held pending until filled."""

from __future__ import annotations

import psycopg
import pytest

from storage import watermarks

pytestmark = pytest.mark.integration


async def test_many_pairs_advance_like_one_at_a_time(db: psycopg.AsyncConnection[object]) -> None:
    first = await watermarks.record_many(db, {
        ("GW-1", "D-1"): [(0, 9)],
        ("GW-1", "D-2"): [(0, 4), (10, 19)],  # 5..9 missing: 10..19 waits
        ("GW-2", "D-3"): [(5, 9)],  # starts after a gap
    })
    assert first == {("GW-1", "D-1"): 9, ("GW-1", "D-2"): 4, ("GW-2", "D-3"): -1}
    second = await watermarks.record_many(db, {("GW-1", "D-2"): [(5, 9)],
                                               ("GW-2", "D-3"): [(0, 4)]})
    assert second == {("GW-1", "D-2"): 19, ("GW-2", "D-3"): 9}
    assert await watermarks.record_many(db, {("GW-1", "D-1"): [(10, 12)]}) == {
        ("GW-1", "D-1"): 12}
    assert await watermarks.for_gateways(db, ["GW-1", "GW-2"]) == {
        ("GW-1", "D-1"): 12, ("GW-1", "D-2"): 19, ("GW-2", "D-3"): 9}
    pending = await (await db.execute(
        "SELECT pending FROM gateway_watermarks WHERE device_id = 'D-2'")).fetchone()
    assert pending == ([],)
    assert await watermarks.record_many(db, {}) == {}
