"""Alert delivery's pure parts: webhook signatures, the retry schedule, which channels a
flag goes to and when (quiet hours, across midnight and a DST change)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from storage.alerts import Channel, NewFlag
from stream.alerts import backoff, matching, signing

SECRET = "s3cret"


def test_a_signature_verifies_and_returns_its_time() -> None:
    header = signing.sign(SECRET, 1_700_000_000, b'{"a":1}')
    assert signing.verify(SECRET, header, b'{"a":1}', now=1_700_000_100) == 1_700_000_000


@pytest.mark.parametrize(("header", "body", "now", "reason"), [
    (signing.sign(SECRET, 1_700_000_000, b"x"), b"y", 1_700_000_000, "mismatch"),
    (signing.sign("other", 1_700_000_000, b"x"), b"x", 1_700_000_000, "mismatch"),
    (signing.sign(SECRET, 1_700_000_000, b"x"), b"x", 1_700_000_301, "stale"),  # a replay
    ("v1=abc", b"x", 1_700_000_000, "malformed"),
    ("t=soon,v1=abc", b"x", 1_700_000_000, "malformed"),
])
def test_a_bad_signature_is_refused_with_its_reason(header: str, body: bytes, now: float,
                                                    reason: str) -> None:
    with pytest.raises(signing.SignatureError) as refused:
        signing.verify(SECRET, header, body, now=now)
    assert refused.value.reason == reason


def test_retries_back_off_exponentially_up_to_the_cap_then_give_up() -> None:
    assert [backoff.retry_delay_s(n) for n in range(1, 6)] == [2, 4, 8, 16, 32]
    assert backoff.retry_delay_s(20) == backoff.CAP_S
    assert not backoff.gives_up(7) and backoff.gives_up(8)


def channel(**kwargs: object) -> Channel:
    values: dict[str, object] = dict(id=1, study="ST-1", name="c", kind="webhook",
                                     target="https://x", secret="k", min_severity="medium",
                                     rules=[], sites=[], quiet=None)
    values.update(kwargs)
    return Channel(**values)  # type: ignore[arg-type]


def flag(severity: str = "high", rule: str = "hr_tachycardia", site: str = "SITE-1",
         study: str = "ST-1") -> NewFlag:
    t = datetime(2026, 11, 25, tzinfo=UTC)
    return NewFlag(1, study, site, "S-1", None, rule, 1, severity, "live", t, t, [], {}, t)


def test_a_channel_takes_its_study_at_or_above_its_severity_and_its_rules_and_sites() -> None:
    assert matching.matches(channel(), flag("medium"))
    assert not matching.matches(channel(), flag("low"))
    assert not matching.matches(channel(), flag(study="ST-2"))
    assert not matching.matches(channel(enabled=False), flag())
    assert matching.matches(channel(rules=["hr_tachycardia"]), flag())
    assert not matching.matches(channel(rules=["glucose_hypo_l2"]), flag())
    assert not matching.matches(channel(sites=["SITE-2"]), flag())


NIGHT = (time(22), time(7), "Europe/Paris")


@pytest.mark.parametrize(("now", "severity", "first"), [
    # 23:30 Paris (UTC+1 in November): waits for 07:00 Paris the next morning.
    (datetime(2026, 11, 25, 22, 30, tzinfo=UTC), "high", datetime(2026, 11, 26, 6, tzinfo=UTC)),
    # 05:00 Paris: the same night, ends at 07:00 that morning.
    (datetime(2026, 11, 26, 4, tzinfo=UTC), "high", datetime(2026, 11, 26, 6, tzinfo=UTC)),
    # 12:00 Paris: not quiet.
    (datetime(2026, 11, 26, 11, tzinfo=UTC), "high", datetime(2026, 11, 26, 11, tzinfo=UTC)),
    # Critical never waits.
    (datetime(2026, 11, 25, 22, 30, tzinfo=UTC), "critical",
     datetime(2026, 11, 25, 22, 30, tzinfo=UTC)),
    # The night the clocks go forward (29 March 2026, 02:00 → 03:00): 07:00 Paris is 05:00 UTC.
    (datetime(2026, 3, 28, 23, tzinfo=UTC), "high", datetime(2026, 3, 29, 5, tzinfo=UTC)),
])
def test_quiet_hours_hold_non_critical_alerts_until_they_end(now: datetime, severity: str,
                                                              first: datetime) -> None:
    assert matching.first_attempt_at(channel(quiet=NIGHT), flag(severity), now) == first


def test_daytime_quiet_hours_within_one_day() -> None:
    lunch = channel(quiet=(time(12), time(13), "America/Los_Angeles"))
    at = datetime(2026, 11, 25, 20, 30, tzinfo=UTC)  # 12:30 in Los Angeles (UTC-8)
    assert matching.first_attempt_at(lunch, flag(), at) == datetime(2026, 11, 25, 21, tzinfo=UTC)


def test_a_later_on_call_level_is_due_its_escalation_time_after_the_flag_was_stored() -> None:
    stored = flag().created_at
    first, later = channel(id=1), channel(id=2, escalate_after_s=900)
    planned = matching.plan([first, later], flag(), stored + timedelta(seconds=5))
    assert planned == [(first, stored + timedelta(seconds=5)),
                       (later, stored + timedelta(minutes=15))]
    # Planned late (a backlog), the escalation is due at once, not in the past.
    [(_, at)] = matching.plan([later], flag(), stored + timedelta(hours=1))
    assert at == stored + timedelta(hours=1)


def test_an_escalation_in_quiet_hours_waits_for_their_end_unless_critical() -> None:
    night = datetime(2026, 11, 25, 21, 50, tzinfo=UTC)  # 22:50 Paris
    stored = NewFlag(1, "ST-1", "SITE-1", "S-1", None, "hr_tachycardia", 1, "high", "live",
                     night, night, [], {}, night)
    later = channel(escalate_after_s=900, quiet=NIGHT)
    [(_, at)] = matching.plan([later], stored, night)
    assert at == datetime(2026, 11, 26, 6, tzinfo=UTC)  # 07:00 Paris


def test_a_channel_on_call_for_a_shift_takes_only_the_flags_stored_within_it() -> None:
    day = channel(id=1, on_call=(time(8), time(20), "Europe/Paris"))
    night = channel(id=2, on_call=(time(20), time(8), "Europe/Paris"))
    at_noon = NewFlag(1, "ST-1", "SITE-1", "S-1", None, "hr_tachycardia", 1, "high", "live",
                      NOW_PARIS_NOON, NOW_PARIS_NOON, [], {}, NOW_PARIS_NOON)
    at_night = NewFlag(2, "ST-1", "SITE-1", "S-1", None, "hr_tachycardia", 1, "high", "live",
                       NOW_PARIS_3AM, NOW_PARIS_3AM, [], {}, NOW_PARIS_3AM)
    assert [c.id for c, _ in matching.plan([day, night], at_noon, NOW_PARIS_NOON)] == [1]
    assert [c.id for c, _ in matching.plan([day, night], at_night, NOW_PARIS_3AM)] == [2]


NOW_PARIS_NOON = datetime(2026, 11, 25, 11, tzinfo=UTC)  # 12:00 in Paris (UTC+1)
NOW_PARIS_3AM = datetime(2026, 11, 26, 2, tzinfo=UTC)  # 03:00 in Paris
