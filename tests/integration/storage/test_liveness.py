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


async def test_unseen_devices_are_enrolled_past_their_first_data_time_with_nothing_stored(
        db: psycopg.AsyncConnection[object]) -> None:
    now = datetime.now(UTC)
    await seed_study(db, subjects=3, start=now - timedelta(hours=2))
    async with db.transaction():
        await db.execute("UPDATE enrollments SET created_at = %s", (now - timedelta(hours=2),))
        # S-1: the watch W-1 sent a reading, the patch E-1 an ECG segment; C-1 and D-1
        # sent nothing. S-2's gateway is retired; S-3 has withdrawn.
        await db.execute(
            "INSERT INTO readings (time, subject_code, device_id, metric, value, unit, seq,"
            " received_at) VALUES (%s, 'S-1', 'W-1', 'heart_rate', 70, '/min', 1, %s)",
            (now - timedelta(hours=1), now))
        await db.execute(
            "INSERT INTO waveform_segments (time, subject_code, device_id, lead,"
            " sampling_rate_hz, samples, seq, received_at)"
            " VALUES (%s, 'S-1', 'E-1', 'ECG', 130, '{1,2}', 1, %s)",
            (now - timedelta(hours=1), now))
        await db.execute("UPDATE gateways SET status = 'retired' WHERE id = 'GW-2'")
        await db.execute("UPDATE subjects SET status = 'withdrawn' WHERE code = 'S-3'")
    within = {"smartwatch": 600.0, "ecg_patch": 600.0, "cgm": 1800.0}
    unseen = await liveness.unseen_devices(db, now=now, within_s=within)
    assert [(d.subject, d.device_id, d.device_type, d.gateway_id) for d in unseen] == [
        ("S-1", "C-1", "cgm", "GW-1"), ("S-1", "D-1", "smartwatch", "GW-1")]
    assert unseen[0].enrolled_at == now - timedelta(hours=2)
    # Within its first-data time a device is not judged yet (the CGM: 3 h here).
    later = await liveness.unseen_devices(db, now=now, within_s={"cgm": 3 * 3600.0})
    assert later == []


async def test_a_back_dated_enrollment_gives_the_device_its_first_data_time_from_its_entry(
        db: psycopg.AsyncConnection[object]) -> None:
    """``trialwire up`` enrolls its homes from a day back (to take backfilled records): a
    device just entered is not "never seen" until its first-data time has passed since."""
    now = datetime.now(UTC)
    await seed_study(db, subjects=1, start=now - timedelta(days=1))  # entered just now
    within = {"smartwatch": 600.0, "ecg_patch": 600.0, "cgm": 1800.0}
    assert await liveness.unseen_devices(db, now=now, within_s=within) == []
    later = await liveness.unseen_devices(db, now=now + timedelta(minutes=11), within_s=within)
    assert sorted(d.device_id for d in later) == ["D-1", "E-1", "W-1"]  # not the CGM yet
