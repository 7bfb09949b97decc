"""Pages of the incremental EDC exports: readings in ingestion order and versions of
protocol deviations, each after a keyset position and held back by ``lag``.

Why the order and the lag make the pages complete and repeatable is explained where the
cursors are made (``api/exports/page.py``, ``api/exports/deviation_page.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from psycopg import AsyncConnection

from storage.queries._rows import fetch_all

_EPOCH = datetime.fromisoformat("1970-01-01T00:00:00+00:00")


@dataclass(frozen=True, slots=True)
class ExportRow:
    ingested_at: datetime
    subject: str
    device_id: str
    metric: str
    time: datetime
    seq: int
    value: float
    unit: str
    specimen: str | None
    quality: int
    site: str

    @property
    def key(self) -> str:
        """The reading's natural key: stable across re-exports."""
        return f"{self.device_id}|{self.metric}|{self.time.isoformat()}|{self.seq}"


@dataclass(frozen=True, slots=True)
class ExportPosition:
    """The last exported reading, in (ingested_at, subject, device, metric, time, seq) order."""

    ingested_at: datetime = _EPOCH
    subject: str = ""
    device_id: str = ""
    metric: str = ""
    time: datetime = _EPOCH
    seq: int = -1


@dataclass(frozen=True, slots=True)
class DeviationRow:
    id: int
    updated_at: datetime
    subject: str
    site: str
    day: date
    kind: str  # wear_time (minutes) or completeness (fraction of expected samples)
    observed: float
    required: float
    status: str

    @property
    def key(self) -> str:
        """The deviation's natural key: the same record across versions."""
        return f"{self.subject}|{self.day.isoformat()}|{self.kind}"

    @property
    def unit(self) -> str:
        """UCUM unit of ``observed`` and ``required``."""
        return "min" if self.kind == "wear_time" else "1"


_READINGS = """
SELECT r.ingested_at, r.subject_code AS subject, r.device_id, r.metric, r.time, r.seq, r.value,
       r.unit, r.specimen, r.quality, s.site_code AS site
  FROM readings r JOIN subjects s ON s.code = r.subject_code
 WHERE s.study_code = %(study)s AND r.ingested_at < now() - %(lag)s
   AND (r.ingested_at, r.subject_code, r.device_id, r.metric, r.time, r.seq)
       > (%(a)s, %(b)s, %(c)s, %(d)s, %(e)s, %(f)s)
 ORDER BY r.ingested_at, r.subject_code, r.device_id, r.metric, r.time, r.seq
 LIMIT %(limit)s
"""

_DEVIATIONS = """
SELECT d.id, d.updated_at, d.subject_code AS subject, s.site_code AS site, d.day, d.kind,
       d.observed, d.required, d.status
  FROM protocol_deviations d JOIN subjects s ON s.code = d.subject_code
 WHERE d.study_code = %(study)s AND d.updated_at < now() - %(lag)s
   AND (d.updated_at, d.id) > (%(after_at)s, %(after_id)s)
 ORDER BY d.updated_at, d.id
 LIMIT %(limit)s
"""


async def readings_after(conn: AsyncConnection[Any], *, study: str, after: ExportPosition,
                         limit: int, lag: timedelta) -> list[ExportRow]:
    """Up to ``limit`` readings of ``study`` after ``after``, none ingested within ``lag``."""
    return await fetch_all(conn, ExportRow, _READINGS, {
        "study": study, "lag": lag, "a": after.ingested_at, "b": after.subject,
        "c": after.device_id, "d": after.metric, "e": after.time, "f": after.seq,
        "limit": limit})


async def deviations_after(conn: AsyncConnection[Any], *, study: str, after_at: datetime,
                           after_id: int, limit: int, lag: timedelta) -> list[DeviationRow]:
    """Up to ``limit`` deviation versions after (``after_at``, ``after_id``), none changed
    within ``lag``."""
    return await fetch_all(conn, DeviationRow, _DEVIATIONS, {
        "study": study, "lag": lag, "after_at": after_at, "after_id": after_id,
        "limit": limit})
