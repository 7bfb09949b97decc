"""Recent data for the monitoring page's tests: three hours of vitals for S-1 ending now,
a minute of ECG, a gateway heartbeat, the hours' completeness and one open tachycardia
flag."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import msgspec
import psycopg

from deploy.bench.seed import STUDY
from devices.model import Observation, WaveformSegment
from storage import completeness
from storage import flags as flag_store
from stream.contract.flag import Flag
from tests.fixtures.postgres import writer_for

SUBJECT = "S-1"
HOURS = 3
ECG_RATE_HZ = 130.0


async def write_recent_data(dsn: str) -> tuple[datetime, int]:
    """Write the data with times ending at about now; returns (now, flag id)."""
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(hours=HOURS)
    readings = []
    for i in range(HOURS * 360):  # every 10 s
        t = start + timedelta(seconds=10 * i)
        readings.append(_reading(t, "W-1", "heart_rate", 70 + 10 * math.sin(i / 50), "/min", i))
        if i % 6 == 0:
            readings.append(_reading(t, "D-1", "spo2", 97 - (i % 3), "%", i))
        if i % 30 == 0:
            readings.append(_reading(t, "C-1", "glucose", 110 + 30 * math.sin(i / 200),
                                     "mg/dL", i))
    readings.append(_reading(now - timedelta(seconds=5), "W-1", "body_temperature", 36.8, "Cel",
                             10**6))
    segments = [WaveformSegment(
        time=now - timedelta(seconds=60 - s), subject=SUBJECT, device_id="E-1", lead="I",
        sampling_rate_hz=ECG_RATE_HZ, seq=s,
        samples=[1000.0 * math.exp(-((k % 100) - 50) ** 2 / 8) for k in range(int(ECG_RATE_HZ))],
        received_at=now) for s in range(60)]
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        writer = await writer_for(conn)
        async with conn.transaction():
            await writer.write_readings(conn, readings)
            await writer.write_segments(conn, segments)
            await completeness.record_heartbeat(
                conn, gateway_id="GW-1", at=now - timedelta(seconds=20), subject=SUBJECT,
                broker_reachable=True, spool_items=0, unpersisted=0,
                devices=msgspec.json.encode({
                    "W-1": {"connected": True}, "C-1": {"connected": True},
                    "E-1": {"connected": True}, "D-1": {"connected": False}}).decode())
        flag_id, _ = await flag_store.store(conn, Flag(
            study=STUDY, subject=SUBJECT, device_id="W-1", metric="heart_rate",
            rule_id="hr_tachycardia", rule_version=1, severity="high",
            window_start=now - timedelta(minutes=30), window_end=now - timedelta(minutes=20),
            raised_at=now - timedelta(minutes=25), raised_on="live", trigger_values=[
                (now - timedelta(minutes=25), 131.0), (now - timedelta(minutes=24), 134.0)]))
        # What the stream worker's completeness timer does: roll the hours up.
        await completeness.refresh_hours(
            conn, [start.replace(minute=0, second=0) + timedelta(hours=h) for h in range(HOURS + 1)])
        await conn.commit()
    return now, flag_id


def _reading(t: datetime, device: str, metric: str, value: float, unit: str,
             seq: int) -> Observation:
    return Observation(time=t, subject=SUBJECT, device_id=device, metric=metric,
                       value=round(value, 1), unit=unit, seq=seq, received_at=t,
                       gateway_id="GW-1")
