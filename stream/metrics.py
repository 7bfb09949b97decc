"""Prometheus metrics of the stream worker (exposed by ``trialwire stream worker
--metrics-port``)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

ENVELOPES = Counter("trialwire_stream_envelopes_total",
                    "Envelopes consumed from the raw topic, by outcome",
                    ["outcome"])  # stored, duplicate, dead_letter
READINGS = Counter("trialwire_stream_readings_total", "Readings written, by result",
                   ["result"])  # inserted, duplicate
SEGMENT_SAMPLES = Counter("trialwire_stream_segment_samples_total",
                          "Waveform samples in newly stored segments")
REJECTS = Counter("trialwire_stream_rejects_total", "Dead letters by reason", ["reason"])
FLAGS = Counter("trialwire_stream_flags_total", "Flags stored, new or merged",
                ["rule", "result"])
DB_RETRIES = Counter("trialwire_stream_db_retries_total",
                     "Batches retried after a database error")
DB_WRITE_SECONDS = Histogram("trialwire_stream_db_write_seconds",
                             "Time to persist one batch (one transaction)",
                             buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
