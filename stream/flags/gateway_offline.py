"""``gateway_offline``: the platform has not heard from a gateway for ``silent_s``. One
flag per subject enrolled through it, whose window starts at the last time it was heard
from (so each check while it stays dark extends the same flag) and ends now. Pure."""

from __future__ import annotations

from datetime import datetime

from storage.liveness import SilentGateway
from stream.contract.flag import Flag

RULE_ID = "gateway_offline"
RULE_VERSION = 1
SEVERITY = "medium"


def offline_flags(silent: list[SilentGateway], now: datetime) -> list[Flag]:
    return [Flag(study=g.study, subject=subject, device_id=None, metric=None,
                 rule_id=RULE_ID, rule_version=RULE_VERSION, severity=SEVERITY,
                 window_start=g.last_seen_at, window_end=now, raised_at=now, raised_on="live",
                 details={"gateway": g.gateway_id,
                          "silent_s": round((now - g.last_seen_at).total_seconds(), 1)})
            for g in silent for subject in g.subjects]
