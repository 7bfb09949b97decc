"""Sane times: every time in an envelope must lie in a window around its receipt.

A device clock that was never set, or set to 2106, must not reach the database: each
time creates or touches a time partition (a reading 200 days ahead once made 193 daily
partitions in one transaction), and the anomaly rules' state follows event time.

The window, stated in ``docs/stream.md``: measured and received times from
``MAX_AGE`` before the worker's clock (a meter's stored records, a gateway offline for
months) to ``MAX_AHEAD`` after it (device time zones set wrong, clock drift).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from stream.contract.envelope import Envelope

MAX_AGE = timedelta(days=400)
MAX_AHEAD = timedelta(days=1)


def time_problem(env: Envelope, now: datetime) -> str | None:
    """Why a time in ``env`` lies outside the window around ``now``, or None."""
    earliest, latest = now - MAX_AGE, now + MAX_AHEAD
    times = [env.sent_at, *(r.time for r in env.readings),
             *(r.received_at for r in env.readings), *(s.time for s in env.segments),
             *(s.received_at for s in env.segments)]
    if env.dropped is not None:
        times += [env.dropped.first, env.dropped.last]
    if earliest <= min(times) and max(times) <= latest:
        return None  # the hot path: one pass, no labels
    for label, value in _labelled_times(env):
        if value > latest:
            return f"{label} {value.isoformat()} is more than {MAX_AHEAD.days} day(s) ahead"
        if value < earliest:
            return f"{label} {value.isoformat()} is more than {MAX_AGE.days} days old"
    return None


def _labelled_times(env: Envelope) -> list[tuple[str, datetime]]:
    out = [("sent_at", env.sent_at)]
    for i, r in enumerate(env.readings):
        out += [(f"readings[{i}].time", r.time), (f"readings[{i}].received_at", r.received_at)]
    for i, s in enumerate(env.segments):
        out += [(f"segments[{i}].time", s.time), (f"segments[{i}].received_at", s.received_at)]
    if env.dropped is not None:
        out += [("dropped.first", env.dropped.first), ("dropped.last", env.dropped.last)]
    return out
