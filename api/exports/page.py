"""Incremental export pages: readings in ingestion order with a keyset cursor.

Order is (ingested_at, subject, device, metric, time, seq), so readings that arrive late
(backfill) are exported when they arrive, after what was already exported. Rows younger
than ``lag`` are held back: a reading's ``ingested_at`` is its transaction's start, and a
transaction still open could commit rows older than the newest visible one; the sink's
transactions last well under a second, so a lag of a minute means nothing is skipped.
The same cursor always returns the same page (idempotent); the job stores the cursor it
was given after it has stored the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from psycopg import AsyncConnection

from api.exports.cursor import CursorError, decode_cursor, encode_cursor


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


def encode_row_cursor(row: ExportRow) -> str:
    return encode_cursor([row.ingested_at.isoformat(), row.subject, row.device_id, row.metric,
                          row.time.isoformat(), row.seq])


def decode_row_cursor(text: str) -> tuple[datetime, str, str, str, datetime, int]:
    ingested, subject, device, metric, time, seq = decode_cursor(text, 6)
    try:
        return (datetime.fromisoformat(str(ingested)), str(subject), str(device), str(metric),
                datetime.fromisoformat(str(time)), int(seq))
    except ValueError as exc:
        raise CursorError(f"not an export cursor ({exc})") from None


_PAGE = """
SELECT r.ingested_at, r.subject_code, r.device_id, r.metric, r.time, r.seq, r.value, r.unit,
       r.specimen, r.quality, s.site_code
  FROM readings r JOIN subjects s ON s.code = r.subject_code
 WHERE s.study_code = %(study)s AND r.ingested_at < now() - %(lag)s
   AND (r.ingested_at, r.subject_code, r.device_id, r.metric, r.time, r.seq)
       > (%(a)s, %(b)s, %(c)s, %(d)s, %(e)s, %(f)s)
 ORDER BY r.ingested_at, r.subject_code, r.device_id, r.metric, r.time, r.seq
 LIMIT %(limit)s
"""

_START = (datetime.fromisoformat("1970-01-01T00:00:00+00:00"), "", "", "",
          datetime.fromisoformat("1970-01-01T00:00:00+00:00"), -1)


async def export_page(conn: AsyncConnection[object], *, study: str, after: str | None,
                      limit: int, lag: timedelta) -> tuple[list[ExportRow], str | None]:
    """A page of rows after ``after`` and the cursor to pass next (None: nothing more yet)."""
    a, b, c, d, e, f = decode_row_cursor(after) if after else _START
    cur = await conn.execute(_PAGE, {"study": study, "lag": lag, "a": a, "b": b, "c": c,
                                     "d": d, "e": e, "f": f, "limit": limit})
    rows = [ExportRow(*r) for r in await cur.fetchall()]  # type: ignore[arg-type]
    return rows, (encode_row_cursor(rows[-1]) if rows else None)
