"""Faust's worker consumer waits our ``fetch_max_wait_ms``, not its hard-coded 1.5 s."""

from __future__ import annotations

import faust

from stream.kafka import faust_fetch_wait


async def test_the_worker_consumer_gets_the_configured_fetch_wait() -> None:
    faust_fetch_wait.apply(100)
    app = faust.App("t-fetch-wait", broker="kafka://127.0.0.1:9", store="memory://")
    consumer = app.consumer._thread._create_worker_consumer(app.transport)
    try:
        assert consumer._fetch_max_wait_ms == 100
    finally:
        await consumer.stop()  # never started: closes its client only
