"""Hostile records for ``trialwire eval chaos --faults poison_records``: what a broken or
malicious client could put on the raw topic beside the homes' real data, keyed like it
so it lands in the same partitions (issue 14: one bad record must not stop or lose its
neighbours)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta


def _envelope(subject: str, gateway: str, device: str, at: datetime,
              patch: dict[str, object]) -> bytes:
    body: dict[str, object] = {
        "schema_version": 1, "batch_id": str(uuid.uuid4()), "gateway_id": gateway,
        "device_id": device, "device_type": "smartwatch", "subject": subject,
        "seq_from": 0, "seq_to": 0, "sent_at": at.isoformat(),
        "readings": [{"seq": 0, "metric": "heart_rate", "value": 70.0, "unit": "/min",
                      "time": at.isoformat(), "received_at": at.isoformat()}],
        "segments": []}
    body.update(patch)
    return json.dumps(body).encode()


def hostile_records(homes: list[tuple[str, str, str]], now: datetime | None = None,
                    ) -> list[tuple[bytes, bytes | None]]:
    """(key, value) per hostile kind and home; ``homes`` are (subject, gateway, device)."""
    now = now or datetime.now(UTC)
    out: list[tuple[bytes, bytes | None]] = []
    for subject, gateway, device in homes:
        key = subject.encode()
        out += [
            (key, None),  # a tombstone
            (key, b"\x00\xffnot json at all"),
            (key, _envelope(subject, gateway, "UNKNOWN-DEVICE", now, {"seq_to": 2**63})),
            (key, _envelope(subject, gateway, device, now,
                            {"device_type": "smart\u0000watch"})),
            (key, _envelope(subject, gateway, device, now, {"readings": [{
                "seq": 0, "metric": "heart_rate", "value": 70.0, "unit": "/min",
                "time": (now + timedelta(days=200)).isoformat(),
                "received_at": now.isoformat(), "quality": 2**31}]})),
            # Under a gateway of its own: a range of the real gateway's would be skipped
            # as already persisted, before any enrollment check.
            (key, _envelope(subject, f"{gateway}-X", device, now,
                            {"subject": "S-NOT-ENROLLED"})),
        ]
    return out
