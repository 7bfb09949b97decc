"""Alert dispatcher settings (``TRIALWIRE_ALERTS_*``; the SMTP relay's ``TRIALWIRE_SMTP_*``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from stream.alerts import backoff


class AlertSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRIALWIRE_ALERTS_", extra="ignore")

    poll_s: float = Field(default=0.5, gt=0)  # how often new flags and due tries are looked for
    batch: int = Field(default=100, ge=1, le=1000)  # tries claimed per round
    lease_s: float = Field(default=60.0, gt=0)  # a try not finished by then is due again
    timeout_s: float = Field(default=10.0, gt=0)  # per webhook request / SMTP session
    max_attempts: int = Field(default=backoff.MAX_ATTEMPTS, ge=1, le=50)
    retry_base_s: float = Field(default=backoff.BASE_S, gt=0)
    retry_cap_s: float = Field(default=backoff.CAP_S, gt=0)
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"


class SmtpSettings(BaseSettings):
    """The relay e-mail alerts go through. STARTTLS unless ``starttls`` is false (a relay
    on loopback); the password from the environment or, better, a file."""

    model_config = SettingsConfigDict(env_prefix="TRIALWIRE_SMTP_", extra="ignore")

    host: str | None = None  # None: e-mail channels fail with "no SMTP relay configured"
    port: int = Field(default=587, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    sender: str = "trialwire-alerts@localhost"
    starttls: bool = True
    ca_file: Path | None = None  # a private CA's bundle for the relay's certificate

    def secret(self) -> str | None:
        if self.password_file is not None:
            return self.password_file.read_text().strip()
        return self.password.get_secret_value() if self.password is not None else None
