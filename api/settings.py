"""API server settings (``TRIALWIRE_API_*``)."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRIALWIRE_API_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    max_connections: int = 2000  # open connections beyond this get a 503 (api/http_edge.py)
    metrics_port: int | None = None  # Prometheus /metrics on its own port; None: off
    metrics_host: str = "127.0.0.1"
    # Export pages hold back readings younger than this (api/exports/page.py).
    export_lag_s: float = 60.0
