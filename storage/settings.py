"""Database settings (``TRIALWIRE_DATABASE_*``): where PostgreSQL is and how to pool it."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class DatabaseSettings(BaseSettings):
    """``TRIALWIRE_DATABASE_URL`` (or ``_URL_FILE``, a file holding it) plus pool sizing."""

    model_config = SettingsConfigDict(env_prefix="TRIALWIRE_DATABASE_", extra="ignore")

    url: SecretStr | None = None
    url_file: Path | None = None
    pool_min_size: int = 1
    pool_max_size: int = 10
    connect_timeout_s: float = 10.0
    # Readings partitions (non-TimescaleDB mode) are created this many days ahead.
    partitions_ahead_days: int = 7

    def dsn(self) -> str:
        """The libpq connection string; raises when none is configured."""
        if self.url is not None:
            return self.url.get_secret_value()
        if self.url_file is not None:
            return self.url_file.read_text().strip()
        raise ValueError("no database configured: set TRIALWIRE_DATABASE_URL")
