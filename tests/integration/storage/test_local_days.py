"""Days are the participant's local days (``subject_zone_periods``): across the end of
daylight saving time a Los Angeles day has 25 hours, and a participant who flies from Los
Angeles to Tokyo has a short day at each end of the journey; daily completeness (and so
deviations) follows, and analytics use the same days."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from deploy.bench.seed import seed_study
from devices.model import Observation
from storage import deviations, registry_changes
from storage.queries import analytics
from tests.fixtures.postgres import writer_for

pytestmark = pytest.mark.integration

START = datetime(2026, 10, 31, 7, tzinfo=UTC)  # midnight, 31 October, in Los Angeles (PDT)
HOURS = 49  # to midnight, 2 November, in Los Angeles (PST): the clocks went back on the 1st


async def _hours(db: psycopg.AsyncConnection[object], subject: str, device: str) -> None:
    for h in range(HOURS):
        await db.execute(
            "INSERT INTO completeness_hourly (subject_code, device_id, metric, hour, study_code,"
            " expected, received, wear_minutes, enrolled_minutes, device_silent_minutes,"
            " gateway_offline_minutes, upload_backlog_minutes)"
            " VALUES (%s, %s, 'heart_rate', %s, 'ST-1', 3600, 3600, 60, 60, 0, 0, 0)",
            (subject, device, START + timedelta(hours=h)))


async def test_days_are_local_across_a_dst_change_and_a_journey(
        db: psycopg.AsyncConnection[object]) -> None:
    await seed_study(db, subjects=2, start=START - timedelta(days=1))
    async with db.transaction():
        await registry_changes.update(db, entity="site", study="ST-1", key="SITE-1",
                                      changes={"time_zone": "America/Los_Angeles"})
        await _hours(db, "S-1", "W-1")
        await _hours(db, "S-2", "W-2")
        # S-2 lands in Tokyo at midnight, 2 November, local time (15:00 UTC on the 1st).
        before = await registry_changes.set_subject_zone(
            db, study="ST-1", subject="S-2", zone="Asia/Tokyo",
            since=datetime(2026, 11, 1, 15, tzinfo=UTC))
    assert before == "America/Los_Angeles"
    days = await deviations.daily(db, study="ST-1", start=date(2026, 10, 30),
                                  end=date(2026, 11, 3))
    wear = {(d["subject"], d["day"]): d["wear_minutes"] for d in days}
    assert {k: v for k, v in wear.items() if k[0] == "S-1"} == {
        ("S-1", date(2026, 10, 31)): 24 * 60,
        ("S-1", date(2026, 11, 1)): 25 * 60,  # the clocks went back: a 25-hour day
    }
    assert {k: v for k, v in wear.items() if k[0] == "S-2"} == {
        ("S-2", date(2026, 10, 31)): 24 * 60,
        ("S-2", date(2026, 11, 1)): 8 * 60,  # left Los Angeles at 07:00 PST (15:00 UTC)
        ("S-2", date(2026, 11, 2)): 17 * 60,  # Tokyo, until the data ends at 17:00 local
    }
    assert all(d["completeness"] == 1.0 for d in days)
    periods = await registry_changes.zone_periods(db, subject="S-2")
    assert [(p.zone, p.start, p.end) for p in periods] == [
        ("America/Los_Angeles", None, datetime(2026, 11, 1, 15, tzinfo=UTC)),
        ("Asia/Tokyo", datetime(2026, 11, 1, 15, tzinfo=UTC), None)]
    # Analytics count the same days: 23:30 on 31 October in Los Angeles is 06:30 UTC on the 1st.
    writer = await writer_for(db)
    late = datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
    async with db.transaction():
        await writer.write_readings(db, [Observation(
            time=late, subject="S-1", device_id="C-1", metric="glucose", value=101.0,
            unit="mg/dL", seq=1, received_at=late, gateway_id="GW-1")])
    [value] = await analytics.glucose_values(db, study="ST-1", start=date(2026, 10, 31),
                                             end=date(2026, 11, 1))
    assert (value.subject, value.day, value.value) == ("S-1", date(2026, 10, 31), 101.0)
    # A narrower request gives whole local days, not UTC ones.
    one = await deviations.daily(db, study="ST-1", start=date(2026, 11, 1),
                                 end=date(2026, 11, 1), subject="S-1")
    assert [(d["day"], d["wear_minutes"]) for d in one] == [(date(2026, 11, 1), 1500)]
