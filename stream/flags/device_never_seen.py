"""``device_never_seen``: an enrolled device has produced nothing since its enrollment
began, longer than its catalog's ``first_data_within_s``: a device never paired, never
worn, or paired to the wrong gateway. One flag per subject and device, whose window
starts at the enrollment (so each check while nothing arrives extends the same flag) and
ends now. Pure."""

from __future__ import annotations

from datetime import datetime

from devices.catalog import CATALOG
from storage.liveness import UnseenDevice
from stream.contract.flag import Flag

RULE_ID = "device_never_seen"
RULE_VERSION = 1
SEVERITY = "medium"


def first_data_within_s() -> dict[str, float]:
    """Per device type, how long after enrollment its first data is due (the catalog's)."""
    return {str(t): spec.first_data_within_s for t, spec in CATALOG.items()}


def never_seen_flags(unseen: list[UnseenDevice], now: datetime) -> list[Flag]:
    return [Flag(study=d.study, subject=d.subject, device_id=d.device_id, metric=None,
                 rule_id=RULE_ID, rule_version=RULE_VERSION, severity=SEVERITY,
                 window_start=d.enrolled_at, window_end=now, raised_at=now, raised_on="live",
                 details={"gateway": d.gateway_id, "device_type": d.device_type,
                          "enrolled_for_s": round((now - d.enrolled_at).total_seconds(), 1)})
            for d in unseen]
