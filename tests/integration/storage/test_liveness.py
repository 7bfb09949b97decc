"""Which gateways the platform has stopped hearing from (``storage/liveness.py``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from deploy.bench.seed import seed_study
from storage import liveness

pytestmark = pytest.mark.integration


async def test_silent_gateways_are_those_heard_from_before_but_not_lately(
        db: psycopg.AsyncConnection[object]) -> None:
    now = datetime.now(UTC)
    await seed_study(db, subjects=5, start=now - timedelta(days=1))
    async with db.transaction():
        for gateway, ago in (("GW-1", 600), ("GW-2", 10), ("GW-4", 600), ("GW-5", 600)):
            await db.execute("UPDATE gateways SET last_seen_at = %s WHERE id = %s",
                             (now - timedelta(seconds=ago), gateway))
        # GW-3 was never heard from (device_never_seen's case, not this one); GW-4 is
        # retired; GW-5's subject has withdrawn.
        await db.execute("UPDATE gateways SET status = 'retired' WHERE id = 'GW-4'")
        await db.execute("UPDATE subjects SET status = 'withdrawn' WHERE code = 'S-5'")
    silent = await liveness.silent_gateways(db, now=now, silent_s=90)
    assert [(g.gateway_id, g.study, g.subjects) for g in silent] == [("GW-1", "ST-1", ["S-1"])]
    assert silent[0].last_seen_at == now - timedelta(seconds=600)
