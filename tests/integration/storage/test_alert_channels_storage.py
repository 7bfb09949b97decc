"""``storage/alerts.py``: a channel made again by name keeps its key; switching returns it."""

from __future__ import annotations

import psycopg
import pytest

from deploy.bench.seed import seed_study
from storage import alerts

pytestmark = pytest.mark.integration


async def test_ensure_channel_repoints_an_existing_channel_and_keeps_its_key(
        db: psycopg.AsyncConnection[object]) -> None:
    await seed_study(db)
    first = await alerts.ensure_channel(db, study="ST-1", name="up", kind="webhook",
                                        target="http://127.0.0.1:1/a")
    off = await alerts.set_channel_enabled(db, study="ST-1", channel_id=first.id, enabled=False)
    assert off is not None and not off.enabled
    again = await alerts.ensure_channel(db, study="ST-1", name="up", kind="webhook",
                                        target="http://127.0.0.1:2/b", min_severity="low")
    assert (again.id, again.secret) == (first.id, first.secret)
    assert (again.target, again.min_severity, again.enabled) == ("http://127.0.0.1:2/b", "low", True)
    assert await alerts.set_channel_enabled(db, study="ST-2", channel_id=first.id,
                                            enabled=False) is None
