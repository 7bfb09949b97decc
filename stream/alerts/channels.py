"""One try of one delivery over its channel: a signed webhook POST, or an e-mail through
the SMTP relay. Returns what happened; never raises for the receiver's faults."""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass

import aiosmtplib
import httpx

from storage.alerts import DueDelivery
from stream.alerts import message, signing
from stream.alerts.settings import SmtpSettings
from stream.errors import first_line


@dataclass(frozen=True, slots=True)
class TryResult:
    ok: bool
    status: int | None  # HTTP status or SMTP reply code
    error: str | None
    permanent: bool = False  # no later try can succeed (e.g. 410 Gone)


async def post_webhook(client: httpx.AsyncClient, due: DueDelivery) -> TryResult:
    """2xx is delivered; anything else (or no answer) is tried again, except 410 Gone."""
    body = message.webhook_body(due.flag, due.idempotency_key)
    secret = due.channel.secret or ""
    headers = {"Content-Type": "application/json",
               signing.HEADER: signing.sign(secret, int(time.time()), body),
               signing.IDEMPOTENCY_HEADER: due.idempotency_key,
               "X-Trialwire-Attempt": str(due.attempt)}
    try:
        answer = await client.post(due.channel.target, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return TryResult(False, None, f"{type(exc).__name__}: {first_line(exc)}"[:500])
    if 200 <= answer.status_code < 300:
        return TryResult(True, answer.status_code, None)
    return TryResult(False, answer.status_code, f"HTTP {answer.status_code}",
                     permanent=answer.status_code == 410)


async def send_email(smtp: SmtpSettings, due: DueDelivery, *, timeout_s: float) -> TryResult:
    """Through the relay, with STARTTLS unless turned off; a 5xx reply is permanent."""
    if smtp.host is None:
        return TryResult(False, None, "no SMTP relay configured (TRIALWIRE_SMTP_HOST)")
    mail = message.email(due.flag, idempotency_key=due.idempotency_key, sender=smtp.sender,
                         to=due.channel.target)
    context = ssl.create_default_context(cafile=str(smtp.ca_file) if smtp.ca_file else None)
    try:
        await aiosmtplib.send(mail, hostname=smtp.host, port=smtp.port,
                              start_tls=smtp.starttls, tls_context=context,
                              username=smtp.username, password=smtp.secret(),
                              timeout=timeout_s)
    except aiosmtplib.SMTPResponseException as exc:
        return TryResult(False, exc.code, first_line(exc)[:500], permanent=exc.code >= 500)
    except (aiosmtplib.SMTPException, OSError) as exc:
        return TryResult(False, None, f"{type(exc).__name__}: {first_line(exc)}"[:500])
    return TryResult(True, 250, None)
