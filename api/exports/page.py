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

from datetime import datetime, timedelta

from psycopg import AsyncConnection

from api.exports.cursor import CursorError, decode_cursor, encode_cursor
from storage.queries import exports
from storage.queries.exports import ExportPosition, ExportRow


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


async def export_page(conn: AsyncConnection[object], *, study: str, after: str | None,
                      limit: int, lag: timedelta) -> tuple[list[ExportRow], str | None]:
    """A page of rows after ``after`` and the cursor to pass next (None: nothing more yet)."""
    position = ExportPosition(*decode_row_cursor(after)) if after else ExportPosition()
    rows = await exports.readings_after(conn, study=study, after=position, limit=limit, lag=lag)
    return rows, (encode_row_cursor(rows[-1]) if rows else None)
