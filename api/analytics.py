"""Sponsor analytics with Polars: per-study aggregates grouped by site, arm or subject.

Inputs are per subject and day (heart-rate sums from the minute rollup, glucose readings,
wear minutes); outputs never carry more than the pseudonymous subject code.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

import polars as pl
from psycopg import AsyncConnection

from storage import deviations
from storage.queries import analytics

Measure = Literal["daily_mean_hr", "time_in_range", "time_below_range", "wear_time"]
GroupBy = Literal["site", "arm", "subject"]

# International consensus on CGM metrics (Battelino et al., Diabetes Care 2019).
TIR_LOW, TIR_HIGH = 70.0, 180.0


_SUBJECTS = {"subject": pl.Utf8, "site": pl.Utf8, "arm": pl.Utf8}
_DAILY_SUMS = {"subject": pl.Utf8, "day": pl.Date, "sum": pl.Float64, "count": pl.Int64}
_DAILY_VALUES = {"subject": pl.Utf8, "day": pl.Date, "value": pl.Float64}


async def _subjects(conn: AsyncConnection[object], study: str) -> pl.DataFrame:
    rows = await analytics.subject_groups(conn, study=study)
    return pl.DataFrame(rows, schema=_SUBJECTS, orient="row")


async def _heart_rate(conn: AsyncConnection[object], study: str, start: date,
                      end: date) -> pl.DataFrame:
    rows = await analytics.daily_heart_rate(conn, study=study, start=start, end=end)
    return pl.DataFrame(rows, schema=_DAILY_SUMS, orient="row")


async def _glucose(conn: AsyncConnection[object], study: str, start: date,
                   end: date) -> pl.DataFrame:
    rows = await analytics.glucose_values(conn, study=study, start=start, end=end)
    return pl.DataFrame(rows, schema=_DAILY_VALUES, orient="row")


async def aggregate(conn: AsyncConnection[object], *, study: str, measure: Measure,
                    group_by: GroupBy, start: date, end: date) -> pl.DataFrame:
    subjects = await _subjects(conn, study)
    if measure == "daily_mean_hr":
        per_day = (await _heart_rate(conn, study, start, end)).with_columns(
            (pl.col("sum") / pl.col("count")).alias("value"))
    elif measure in ("time_in_range", "time_below_range"):
        glucose = await _glucose(conn, study, start, end)
        condition = (pl.col("value").is_between(TIR_LOW, TIR_HIGH) if measure == "time_in_range"
                     else pl.col("value") < TIR_LOW)
        per_day = glucose.group_by("subject", "day").agg(
            (condition.cast(pl.Float64).mean() * 100).alias("value"))
    else:
        days = await deviations.daily(conn, study=study, start=start, end=end)
        per_subject = deviations.per_subject(days)
        per_day = pl.DataFrame(
            [(s, d, float(f["wear_minutes"] or 0.0)) for (s, d), f in per_subject.items()],
            schema={"subject": pl.Utf8, "day": pl.Date, "value": pl.Float64}, orient="row")
    joined = per_day.select("subject", "day", "value").join(subjects, on="subject")
    return (joined.group_by(group_by, "day")
            .agg(pl.col("value").mean().round(2).alias("mean"),
                 pl.col("value").min().round(2).alias("min"),
                 pl.col("value").max().round(2).alias("max"),
                 pl.col("subject").n_unique().alias("subjects"))
            .sort(group_by, "day"))
