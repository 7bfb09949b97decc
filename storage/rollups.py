"""Rollup views over readings shared by both storage modes: names, widths, columns.

TimescaleDB builds them as continuous aggregates (``timescale.py``); plain PostgreSQL
as ``date_bin`` views (``migrations/0002_readings.py``). Columns: bucket, subject_code,
device_id, metric, min, max, mean, count.
"""

from __future__ import annotations

# (view name, bucket width)
ROLLUPS: tuple[tuple[str, str], ...] = (
    ("readings_hourly", "1 hour"),
    ("readings_daily", "1 day"),
)
