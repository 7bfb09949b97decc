"""Prometheus metrics of the stream worker (exposed by ``trialwire stream worker
--metrics-port``)."""

from __future__ import annotations

from typing import Any

from prometheus_client import Counter, Gauge, Histogram

ENVELOPES = Counter("trialwire_stream_envelopes_total",
                    "Envelopes consumed from the raw topic, by outcome",
                    ["outcome"])  # stored, duplicate, dead_letter
READINGS = Counter("trialwire_stream_readings_total", "Readings written, by result",
                   ["result"])  # inserted, duplicate
SEGMENTS = Counter("trialwire_stream_segments_total", "Waveform segments written, by result",
                   ["result"])  # inserted, duplicate
REJECTS = Counter("trialwire_stream_rejects_total", "Dead letters by reason", ["reason"])
FLAGS = Counter("trialwire_stream_flags_total", "Flags stored, new or merged",
                ["rule", "result"])
DB_RETRIES = Counter("trialwire_stream_db_retries_total",
                     "Batches retried after a database error")
DB_WRITE_SECONDS = Histogram("trialwire_stream_db_write_seconds",
                             "Time to persist one batch (one transaction)",
                             buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
CONSUMER_LAG = Gauge("trialwire_stream_consumer_lag",
                     "Records on the partition not yet committed by this worker",
                     ["topic", "partition"])
STALLED = Gauge("trialwire_stream_partition_stalled_seconds",
                "Seconds a partition has had records waiting and no committed progress "
                "(only while stalled; the worker exits for a restart at stall_restart_s)",
                ["topic", "partition"])


async def record_lag(consumer: Any, topics: set[str],
                     ) -> dict[tuple[str, int], tuple[int, int]]:
    """Set the lag gauge of every partition of ``topics`` assigned to this worker (a faust
    Consumer): the partition's high watermark (from fetch responses, which are correct on
    the embedded broker too) minus the offset this worker last committed. Returns
    (committed offset, lag) per partition."""
    CONSUMER_LAG.clear()  # partitions revoked since the last call disappear
    out: dict[tuple[str, int], tuple[int, int]] = {}
    for tp in consumer.assignment():
        if tp.topic not in topics:  # table changelogs are read on recovery, not committed
            continue
        highwater = consumer.highwater(tp)
        if highwater is None or highwater < 0:
            continue
        # faust keeps the offsets it committed; before the first commit, its position.
        committed = consumer._committed_offset.get(tp)
        if committed is None:
            committed = await consumer.position(tp)
        lag = max(0, highwater - (committed or 0))
        CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(lag)
        out[(tp.topic, tp.partition)] = (committed or 0, lag)
    return out
