"""What an alert says: the webhook's JSON body and the e-mail's subject and text. The
subject code is pseudonymous; nothing else about the participant is sent. Pure."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

import msgspec

from storage.alerts import NewFlag


def flag_document(flag: NewFlag) -> dict[str, Any]:
    return {
        "id": flag.id, "study": flag.study, "site": flag.site, "subject": flag.subject,
        "device_id": flag.device_id, "rule_id": flag.rule_id,
        "rule_version": flag.rule_version, "severity": flag.severity,
        "raised_on": flag.raised_on, "window_start": flag.window_start.isoformat(),
        "window_end": flag.window_end.isoformat(), "trigger_values": flag.trigger_values,
        "details": flag.details, "created_at": flag.created_at.isoformat(),
    }


def webhook_body(flag: NewFlag, idempotency_key: str) -> bytes:
    """The same bytes on every try of one delivery (the try's number is a header)."""
    return msgspec.json.encode({"type": "flag.raised", "idempotency_key": idempotency_key,
                                "flag": flag_document(flag)})


def email(flag: NewFlag, *, idempotency_key: str, sender: str, to: str) -> EmailMessage:
    """Its Message-ID derives from the idempotency key, so a repeat is recognisably the
    same message."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = (f"[trialwire] {flag.severity.upper()} {flag.rule_id}: subject "
                          f"{flag.subject} ({flag.study})")
    message["Message-ID"] = f"<{idempotency_key}@trialwire>"
    message["X-Trialwire-Flag"] = str(flag.id)
    message.set_content(
        f"Flag {flag.id} ({flag.raised_on}) in study {flag.study}, site {flag.site or '-'}\n"
        f"Rule: {flag.rule_id} v{flag.rule_version}, severity {flag.severity}\n"
        f"Subject: {flag.subject}, device {flag.device_id or '-'}\n"
        f"Window: {flag.window_start.isoformat()} to {flag.window_end.isoformat()}\n"
        "Review it on the monitoring page.\n")
    return message
