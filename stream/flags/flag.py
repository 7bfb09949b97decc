"""A flag made from a rule's episode (the message itself is :mod:`stream.contract.flag`)."""

from __future__ import annotations

from datetime import UTC, datetime

from stream.contract.flag import Flag
from stream.flags.rules.episode import Episode


def utc(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, UTC)


def from_episode(episode: Episode, *, study: str, subject: str, device_id: str | None,
                 metric: str | None, version: int, severity: str) -> Flag:
    return Flag(
        study=study, subject=subject, device_id=device_id, metric=metric,
        rule_id=episode.rule_id, rule_version=version, severity=severity,
        window_start=utc(episode.onset), window_end=utc(episode.end),
        raised_at=utc(episode.raised_at),
        raised_on="backfill" if episode.backfilled else "live", closed=episode.closed,
        trigger_values=[(utc(t), v) for t, v in episode.values],
        details=dict(episode.details))
