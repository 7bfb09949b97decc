"""Which channels a flag goes to, and from when: a channel takes flags of its study at or
above its minimum severity, optionally only some rules and sites; in its quiet hours (a
local time range in its time zone) a delivery waits for their end, unless the flag is
critical. A channel with on-call hours takes only flags stored within them (a day and a
night shift); a channel that is a later on-call level gets the flag only after its
escalation time. Pure."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from storage.alerts import Channel, NewFlag

SEVERITIES = ("info", "low", "medium", "high", "critical")


def matches(channel: Channel, flag: NewFlag) -> bool:
    return (channel.enabled and channel.study == flag.study
            and SEVERITIES.index(flag.severity) >= SEVERITIES.index(channel.min_severity)
            and (not channel.rules or flag.rule_id in channel.rules)
            and (not channel.sites or flag.site in channel.sites)
            and on_call(channel, flag.created_at))


def on_call(channel: Channel, at: datetime) -> bool:
    """Whether the channel is on call at ``at``: always, or within its daily range (local
    wall time in its zone, across midnight when the end is before the start)."""
    if channel.on_call is None:
        return True
    start, end, zone = channel.on_call
    return _within(at.astimezone(ZoneInfo(zone)).timetz().replace(tzinfo=None), start, end)


def _within(t: time, start: time, end: time) -> bool:
    """``start`` ≤ ``t`` < ``end`` of a daily range, across midnight when ``end`` ≤
    ``start`` (e.g. 22:00-07:00)."""
    return start <= t < end if start < end else (t >= start or t < end)


def first_attempt_at(channel: Channel, flag: NewFlag, now: datetime) -> datetime:
    """``now``, or the end of the channel's quiet hours if ``now`` falls in them and the
    flag is not critical."""
    if channel.quiet is None or flag.severity == "critical":
        return now
    start, end, zone = channel.quiet
    local = now.astimezone(ZoneInfo(zone))
    quiet_end = _quiet_end(local, start, end)
    return now if quiet_end is None else quiet_end


def _quiet_end(local: datetime, start: time, end: time) -> datetime | None:
    """The end of the quiet period ``local`` is in (``start`` ≤ t < ``end``, across
    midnight when ``end`` ≤ ``start``), or None when it is in none. DST-safe: the end is
    built as a wall time of its own day in the zone."""
    t = local.timetz().replace(tzinfo=None)
    if not _within(t, start, end):
        return None
    # Across midnight, a time after the start ends on the next day.
    end_day = local.date() + timedelta(days=1) if end <= start <= t else local.date()
    return datetime.combine(end_day, end, tzinfo=local.tzinfo)


def plan(channels: list[Channel], flag: NewFlag, now: datetime) -> list[tuple[Channel, datetime]]:
    """Each channel ``flag`` goes to, with the time of its first attempt: now, or for a
    later on-call level, the flag's storing plus the level's ``escalate_after_s`` (the
    dispatcher cancels it then if the flag was acknowledged meanwhile)."""
    return [(c, first_attempt_at(c, flag, _due(c, flag, now))) for c in channels
            if matches(c, flag)]


def _due(channel: Channel, flag: NewFlag, now: datetime) -> datetime:
    if channel.escalate_after_s <= 0:
        return now
    return max(now, flag.created_at + timedelta(seconds=channel.escalate_after_s))
