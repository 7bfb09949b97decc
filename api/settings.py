"""API server settings (``TRIALWIRE_API_*``)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRIALWIRE_API_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
