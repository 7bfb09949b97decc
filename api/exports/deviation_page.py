"""Incremental export pages of protocol deviations, ordered by (updated_at, id).

A deviation is exported when recorded and again whenever it changes (acknowledged, or its
day recomputed after late data); the EDC receives each version as an upsert keyed by
(subject, day, kind). Rows changed less than ``lag`` ago are held back, as for readings
(``page.py``): an open transaction could still commit an older ``updated_at``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from psycopg import AsyncConnection

from api.exports.cursor import CursorError, decode_cursor, encode_cursor
from storage.queries import exports
from storage.queries.exports import DeviationRow

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
    rows = await exports.deviations_after(conn, study=study, after_at=after_at,
                                          after_id=after_id, limit=limit, lag=lag)
    cursor = encode_cursor([rows[-1].updated_at.isoformat(), rows[-1].id]) if rows else None
    return rows, cursor
