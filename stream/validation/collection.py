"""Whether an envelope may still be taken for its subject: a subject who is paused,
withdrawn or completed gives no data measured from that change on, and none at all
under the study's 'delete' withdrawal policy (what was collected is being deleted).
Pure; the ingest service answers 410 Gone with the reason (the gateway then stops
collecting)."""

from __future__ import annotations

from datetime import datetime

from stream.contract.envelope import Envelope


def collection_problem(env: Envelope, stopped: tuple[str, datetime, str] | None) -> str | None:
    """Why ``env`` is refused for its subject, or None. ``stopped``: the subject's
    (status, since, withdrawal policy) when it no longer collects, else None."""
    if stopped is None:
        return None
    status, since, policy = stopped
    times = [*(r.time for r in env.readings), *(s.time for s in env.segments)]
    if env.dropped is not None:
        times.append(env.dropped.last)
    stamp = since.isoformat()
    if status == "withdrawn" and policy == "delete":
        return f"subject {env.subject} withdrew on {stamp} and the study deletes their data"
    if not times or max(times) >= since:
        return (f"subject {env.subject} is {status} since {stamp}: nothing measured from "
                "then on is taken; collection has stopped")
    return None
