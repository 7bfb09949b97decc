"""Storing flags so that re-raising one never doubles it.

A flag is identified by rule, version, subject and device plus its episode: a new flag
whose window overlaps a stored one of the same identity is the same episode (re-sent or
re-processed data, or late data that moved the onset) and extends that row instead.
"""

from __future__ import annotations

from typing import Any

import msgspec
from psycopg import AsyncConnection

from stream.contract.flag import Flag

_MERGE = """
UPDATE flags SET window_end = greatest(window_end, %(end)s),
                 details = details || %(details)s::jsonb, updated_at = now()
 WHERE id = (SELECT id FROM flags
              WHERE rule_id = %(rule)s AND rule_version = %(version)s
                AND subject_code = %(subject)s AND device_id IS NOT DISTINCT FROM %(device)s
                AND window_start <= %(end)s AND window_end >= %(start)s
              ORDER BY window_start LIMIT 1)
RETURNING id, window_end
"""

_INSERT = """
INSERT INTO flags (study_code, subject_code, device_id, rule_id, rule_version, severity,
                   window_start, window_end, raised_on, trigger_values, details)
VALUES (%(study)s, %(subject)s, %(device)s, %(rule)s, %(version)s, %(severity)s,
        %(start)s, %(end)s, %(raised_on)s, %(values)s::jsonb, %(details)s::jsonb)
ON CONFLICT (rule_id, rule_version, subject_code, device_id, window_start)
DO UPDATE SET window_end = greatest(flags.window_end, excluded.window_end), updated_at = now()
RETURNING id, (xmax = 0) AS inserted
"""


async def store(conn: AsyncConnection[Any], flag: Flag) -> tuple[int, bool]:
    """Insert or merge ``flag``; returns (flag id, True if it is a new flag)."""
    details = dict(flag.details)
    details["raised_at"] = flag.raised_at.isoformat()
    if flag.closed:  # only ever set: merging an open re-raise must not re-open the episode
        details["closed"] = "true"
    if flag.metric:
        details["metric"] = flag.metric
    params = {
        "study": flag.study, "subject": flag.subject, "device": flag.device_id,
        "rule": flag.rule_id, "version": flag.rule_version, "severity": flag.severity,
        "start": flag.window_start, "end": flag.window_end, "raised_on": flag.raised_on,
        "values": msgspec.json.encode([[t.isoformat(), v] for t, v in flag.trigger_values]
                                      ).decode(),
        "details": msgspec.json.encode(details).decode(),
    }
    cur = await conn.execute(_MERGE, params)
    row = await cur.fetchone()
    if row is not None:
        return int(row[0]), False
    cur = await conn.execute(_INSERT, params)
    row = await cur.fetchone()
    assert row is not None
    return int(row[0]), bool(row[1])
