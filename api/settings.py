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
    # The live page's event streams (api/routes/events.py): at most this many per process;
    # each ends after live_stream_max_s (the browser reconnects, the token is re-checked).
    live_max_subscribers: int = 200
    live_stream_max_s: float = 300.0
    live_heartbeat_s: float = 15.0
