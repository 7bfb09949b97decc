"""Flags are stored once: the same episode re-raised, or re-judged with late data that
moves its window, lands on the existing row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import psycopg
import pytest

from deploy.bench.seed import STUDY, seed_study
from storage import flags as flag_store
from stream.contract.flag import Flag

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def flag(start_s: float, end_s: float, *, closed: bool = False) -> Flag:
    return Flag(study=STUDY, subject="S-1", device_id="W-1", metric="heart_rate",
                rule_id="hr_tachycardia", rule_version=1, severity="high",
                window_start=T0 + timedelta(seconds=start_s),
                window_end=T0 + timedelta(seconds=end_s),
                raised_at=T0 + timedelta(seconds=start_s + 60), raised_on="live",
                closed=closed, trigger_values=[(T0, 130.0)], details={"extreme": 130.0})


async def test_the_same_episode_is_stored_once(db: psycopg.AsyncConnection[object]) -> None:
    await seed_study(db)
    first_id, new = await flag_store.store(db, flag(0, 60))
    assert new
    assert await flag_store.store(db, flag(0, 60)) == (first_id, False)  # re-raised
    # Closed later, and a re-judgement with late data whose onset is earlier: same row.
    assert await flag_store.store(db, flag(0, 300, closed=True)) == (first_id, False)
    assert await flag_store.store(db, flag(-30, 120)) == (first_id, False)
    # A separate episode later is a new flag.
    other_id, new = await flag_store.store(db, flag(900, 960))
    assert new and other_id != first_id
    cur = await db.execute("SELECT window_start, window_end, details FROM flags ORDER BY id")
    rows = await cur.fetchall()
    assert [(r[0], r[1]) for r in rows] == [
        (T0, T0 + timedelta(seconds=300)),
        (T0 + timedelta(seconds=900), T0 + timedelta(seconds=960))]
    assert rows[0][2]["closed"] == "true"
    assert msgspec.json.decode(msgspec.json.encode(rows[0][2]))["metric"] == "heart_rate"
