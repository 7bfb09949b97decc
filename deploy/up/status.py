"""The live status line of ``trialwire up``: readings/s, ECG segments/s and the consumer
lag from the stream worker's Prometheus metrics; open flags and the readings still queued
on the gateways (their newest heartbeats) from the database."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families
from psycopg import AsyncConnection

from deploy.up.demo import STUDY
from storage.queries.overview import study_backlog


@dataclass(frozen=True)
class Status:
    readings_per_s: float
    segments_per_s: float
    readings_total: int
    open_flags: int
    queued_on_gateways: int  # the upload lag, in readings
    consumer_lag: int  # raw-topic envelopes not yet committed by the worker

    def line(self) -> str:
        return (f"{self.readings_per_s:7.1f} readings/s  {self.segments_per_s:5.1f} ECG segments/s"
                f"  {self.readings_total:,} stored  {self.open_flags} open flags"
                f"  lag: {self.consumer_lag} envelopes, {self.queued_on_gateways} readings"
                f" on gateways")


class StatusProbe:
    def __init__(self, metrics_port: int, raw_topic: str) -> None:
        self.url = f"http://127.0.0.1:{metrics_port}/metrics"
        self.raw_topic = raw_topic
        self._last: tuple[float, float, float] | None = None  # (when, readings, segments)

    def _counters(self) -> tuple[float, float, float]:
        """(readings, waveform segments) inserted so far and the raw topic's consumer lag;
        zeros while the worker starts."""
        try:
            text = httpx.get(self.url, timeout=2.0).text
        except httpx.HTTPError:
            return 0.0, 0.0, 0.0
        readings = samples = lag = 0.0
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if (sample.name == "trialwire_stream_readings_total"
                        and sample.labels.get("result") == "inserted"):
                    readings += sample.value
                elif (sample.name == "trialwire_stream_segments_total"
                        and sample.labels.get("result") == "inserted"):
                    samples += sample.value
                elif (sample.name == "trialwire_stream_consumer_lag"
                        and sample.labels.get("topic") == self.raw_topic):
                    lag += sample.value
        return readings, samples, lag

    async def read(self, conn: AsyncConnection[object]) -> Status:
        now = time.monotonic()
        readings, samples, lag = self._counters()
        rate = sample_rate = 0.0
        if self._last is not None and now > self._last[0]:
            span = now - self._last[0]
            rate = max(0.0, readings - self._last[1]) / span
            sample_rate = max(0.0, samples - self._last[2]) / span
        self._last = (now, readings, samples)
        backlog = await study_backlog(conn, study=STUDY)
        await conn.rollback()
        return Status(rate, sample_rate, int(readings), backlog.open_flags,
                      backlog.queued_on_gateways, int(lag))
