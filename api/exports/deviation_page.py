"""Incremental export pages of protocol deviations, ordered by (updated_at, id).

A deviation is exported when recorded and again whenever it changes (acknowledged, or its
day recomputed after late data); the EDC receives each version as an upsert keyed by
(subject, day, kind). Rows changed less than ``lag`` ago are held back, as for readings
(``page.py``): an open transaction could still commit an older ``updated_at``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from psycopg import AsyncConnection

from api.exports.cursor import CursorError, decode_cursor, encode_cursor


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


_PAGE = """
SELECT d.id, d.updated_at, d.subject_code, s.site_code, d.day, d.kind, d.observed, d.required,
       d.status
  FROM protocol_deviations d JOIN subjects s ON s.code = d.subject_code
 WHERE d.study_code = %(study)s AND d.updated_at < now() - %(lag)s
   AND (d.updated_at, d.id) > (%(after_at)s, %(after_id)s)
 ORDER BY d.updated_at, d.id
 LIMIT %(limit)s
"""

_START = (datetime.fromisoformat("1970-01-01T00:00:00+00:00"), 0)


def _decode(text: str) -> tuple[datetime, int]:
    at, ident = decode_cursor(text, 2)
    try:
        return datetime.fromisoformat(str(at)), int(ident)
    except ValueError as exc:
        raise CursorError(f"not an export cursor ({exc})") from None


async def deviation_page(conn: AsyncConnection[object], *, study: str, after: str | None,
                         limit: int, lag: timedelta) -> tuple[list[DeviationRow], str | None]:
    """A page of deviation versions after ``after`` and the cursor to pass next."""
    after_at, after_id = _decode(after) if after else _START
    cur = await conn.execute(_PAGE, {"study": study, "lag": lag, "after_at": after_at,
                                     "after_id": after_id, "limit": limit})
    rows = [DeviationRow(*r) for r in await cur.fetchall()]  # type: ignore[arg-type]
    cursor = encode_cursor([rows[-1].updated_at.isoformat(), rows[-1].id]) if rows else None
    return rows, cursor
