"""The Faust worker's consumer waits ``fetch_max_wait_ms`` from our settings, not 1.5 s.

faust-streaming builds the worker's aiokafka consumer with ``fetch_max_wait_ms=1500``
hard-coded (``faust/transport/drivers/aiokafka.py``, ``_create_worker_consumer``). A
Kafka broker answers a fetch as soon as ``fetch_min_bytes`` are there, so the wait only
matters when idle; the embedded Tansu broker, measured here, does not answer early for
every partition of a fetch: produce → consume latency p50 ~400 ms at 1.5 s against
~40 ms at 100 ms, which was most of the pipeline's produce → flag latency. The consumer
object keeps the value until ``start()`` builds its fetcher, so it is set right after
Faust creates it.
"""

from __future__ import annotations

from typing import Any

from faust.transport.drivers import aiokafka as faust_aiokafka

_applied_wait_ms: int | None = None


def apply(fetch_max_wait_ms: int) -> None:
    """Make every Faust worker consumer created from now on use ``fetch_max_wait_ms``."""
    global _applied_wait_ms
    if _applied_wait_ms is None:
        original = faust_aiokafka.AIOKafkaConsumerThread._create_worker_consumer

        def create_worker_consumer(self: Any, transport: Any) -> Any:
            consumer = original(self, transport)
            consumer._fetch_max_wait_ms = _applied_wait_ms
            return consumer

        faust_aiokafka.AIOKafkaConsumerThread._create_worker_consumer = create_worker_consumer  # type: ignore[method-assign]
    _applied_wait_ms = fetch_max_wait_ms
