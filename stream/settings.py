"""Stream worker settings (``TRIALWIRE_STREAM_*``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class StreamSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRIALWIRE_STREAM_", extra="ignore")

    # The Faust app id: the consumer group and the prefix of the table changelog topics.
    app_id: str = "trialwire-stream"
    batch_max: int = 500  # envelopes per database transaction at most
    # ... or whatever arrived within this time after the previous batch was done (Faust's
    # take_events waits this long even when events are queued: it is added to latency).
    batch_within_s: float = 0.05
    retry_backoff_max_s: float = 5.0  # database retries back off up to this
    completeness_interval_s: float = 60.0  # how often touched hours are recomputed
    # A partition with records waiting and no committed progress for this long ends the
    # worker for a fresh start (stream/partition_watch.py); a database outage excepted.
    stall_restart_s: float = Field(default=120.0, gt=0)
    # A gateway the platform has not heard from for this long raises gateway_offline.
    gateway_offline_after_s: float = Field(default=90.0, gt=0)
    rules_file: Path | None = None  # rule definitions replacing the packaged defaults
    web_port: int | None = None  # Faust's web server (127.0.0.1); None: off
    metrics_port: int | None = None  # Prometheus /metrics; None: off
    metrics_host: str = "127.0.0.1"  # 0.0.0.0 in a container, for the scraper
