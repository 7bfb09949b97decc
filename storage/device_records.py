"""Which device records (a CGM's or meter's stored readings, keyed by the device's own
record number) are already stored, whatever time they were stamped with.

A record read again from a device's store by a gateway that has no cursor for it (a new
or replaced hub) is stamped through that gateway's fresh clock estimate, so its time can
differ from the stored copy's by seconds or, for an unset device clock, hours: the natural
key (which holds the time) no longer matches and the row would be stored twice. The
record number does not change; within ``WINDOW`` of the time it is the same record.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from psycopg import AsyncConnection

WINDOW = timedelta(hours=24)

RecordKey = tuple[str, str, str, int]  # subject, device, metric, record number (seq)


async def already_stored(conn: AsyncConnection[Any],
                         records: Sequence[tuple[RecordKey, datetime]]) -> set[RecordKey]:
    """The keys of ``records`` (key, stamped time) stored within ``WINDOW`` of the time."""
    if not records:
        return set()
    subjects, devices, metrics, seqs, times = (list(c) for c in zip(
        *[(s, d, m, q, t) for (s, d, m, q), t in records], strict=True))
    cur = await conn.execute(
        "SELECT DISTINCT r.subject_code, r.device_id, r.metric, r.seq"
        " FROM unnest(%s::text[], %s::text[], %s::text[], %s::bigint[], %s::timestamptz[])"
        "  AS k(subject_code, device_id, metric, seq, time)"
        " JOIN readings r ON r.subject_code = k.subject_code AND r.metric = k.metric"
        "  AND r.time BETWEEN k.time - %s AND k.time + %s"
        "  AND r.device_id = k.device_id AND r.seq = k.seq",
        (subjects, devices, metrics, seqs, times, WINDOW, WINDOW))
    return {(s, d, m, int(q)) for s, d, m, q in await cur.fetchall()}
