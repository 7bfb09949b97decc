"""The Faust application of the stream worker: topics, the flag-state table, the agents.

``create_app`` builds a fresh app per call (tests start several workers with different
ids); ``trialwire stream worker`` runs it. Tables use the in-memory store and are rebuilt
from their changelog topics on start, so a restarted or rebalanced worker resumes the
rules' state where the previous owner of the partition left it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import faust

from storage import stream_health
from storage.migrate import StorageMode
from storage.readings import ReadingWriter
from storage.settings import DatabaseSettings
from stream import metrics
from stream.agents.broker_watch import CHECK_INTERVAL_S, EXIT_BROKER_RESET, BrokerWatch
from stream.agents.completeness import CompletenessRefresher
from stream.agents.crash import exit_for_restart, exit_on_crash
from stream.agents.database import Database
from stream.agents.pipeline import Pipeline
from stream.agents.platform_liveness import CHECK_S as LIVENESS_CHECK_S
from stream.agents.platform_liveness import PlatformLiveness
from stream.agents.status import StatusAgent
from stream.flags.config import definitions_from_file
from stream.flags.rulebook import RuleBook
from stream.kafka import faust_fetch_wait
from stream.kafka.group_positions import GroupPositions
from stream.kafka.settings import KafkaSettings
from stream.partition_watch import PartitionWatch
from stream.settings import StreamSettings
from stream.sink import Sink
from stream.validation.enrollment import EnrollmentIndex

logger = logging.getLogger(__name__)

LAG_INTERVAL_S = 5.0  # how often the consumer-lag gauge is refreshed
EXIT_STALLED = 75  # EX_TEMPFAIL: a partition stalled; restart me
OTHERS_INTERVAL_S = 15.0  # how often the partitions other members hold are looked at
OTHERS_GRACE_S = 30.0  # ... and how much longer than our own they may stall
PARTITION_HEALTH_TIMEOUT_S = 2.0  # writing the partitions' health for the page


def create_app(*, kafka: KafkaSettings, stream: StreamSettings, database: DatabaseSettings,
               storage_mode: str, raw_partitions: int, status_partitions: int,
               data_dir: Path) -> faust.App:
    """The worker's app. ``raw_partitions`` must equal the raw topic's partition count: the
    flag-state table is co-partitioned with it (keyed by subject, like the topic)."""
    data_dir.mkdir(parents=True, exist_ok=True)  # Faust creates only the last level
    faust_fetch_wait.apply(kafka.fetch_max_wait_ms)
    app = faust.App(
        stream.app_id,
        **kafka.faust_config(),
        store="memory://",
        datadir=str(data_dir / stream.app_id),
        autodiscover=False,
        topic_partitions=raw_partitions,
        consumer_auto_offset_reset="earliest",
        web_enabled=stream.web_port is not None,
        web_bind="127.0.0.1",
        web_port=stream.web_port or 6066,
        web_in_thread=False,
    )
    names = kafka.topics
    raw = app.topic(names.raw_readings, key_type=bytes, value_type=bytes,
                    key_serializer="raw", value_serializer="raw")
    out = {name: app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw",
                           value_serializer="raw")
           for name in (names.dead_letter, names.flags, names.watermarks)}
    state = app.Table("flag-state", default=dict, partitions=raw_partitions,
                      use_partitioner=True, key_type=bytes, value_type=None)
    # Keys are the subject code's bytes (raw), exactly the raw topic's record keys, so the
    # producer's partitioner puts a subject's state in the partition of its readings.
    # Values are plain dicts (JSON).
    status_state = app.Table("status-state", default=dict, partitions=status_partitions,
                             use_partitioner=True, key_type=bytes, value_type=None)
    definitions = definitions_from_file(stream.rules_file) if stream.rules_file else None
    db = Database(database, retry_backoff_max_s=stream.retry_backoff_max_s)
    enrollments = EnrollmentIndex()
    rulebook = RuleBook(definitions)
    completeness = CompletenessRefresher()
    pipeline = Pipeline(
        db=db, sink=Sink(ReadingWriter(mode=cast("StorageMode", storage_mode)), enrollments),
        rulebook=rulebook,
        state=state, dead_letter=out[names.dead_letter], flags=out[names.flags],
        watermarks=out[names.watermarks], completeness=completeness,
        batch_max=stream.batch_max, batch_within_s=stream.batch_within_s)
    app.agent(raw, name="pipeline")(exit_on_crash("pipeline", pipeline.run))
    status = StatusAgent(db=db, enrollments=enrollments, rulebook=rulebook, state=status_state,
                         flags=out[names.flags], dead_letter=out[names.dead_letter],
                         completeness=completeness)
    status_topic = app.topic(names.status, key_type=bytes, value_type=bytes,
                             key_serializer="raw", value_serializer="raw")
    app.agent(status_topic, name="status")(exit_on_crash("status", status.run))

    watch = BrokerWatch(kafka, [names.raw_readings, names.status])

    @app.timer(CHECK_INTERVAL_S)
    async def watch_broker() -> None:
        if await watch.reset_detected():
            logger.critical("the broker lost its topics (an in-memory broker restarted?): "
                            "exiting with %d for a clean restart", EXIT_BROKER_RESET)
            exit_for_restart(EXIT_BROKER_RESET)

    partitions = PartitionWatch(stall_after_s=stream.stall_restart_s)
    # Partitions another member holds: a member that died without leaving keeps its
    # partitions until the broker expires it, which the embedded broker was seen not to
    # do. Judged later than our own (a live holder exits on its own watch first); a fresh
    # worker's join makes the group drop members that do not re-join.
    others = PartitionWatch(stall_after_s=stream.stall_restart_s + OTHERS_GRACE_S)
    group = GroupPositions(kafka, stream.app_id)

    unavailable = [0]  # checks in a row that could not read the group's positions

    @app.timer(OTHERS_INTERVAL_S)
    async def watch_others() -> None:
        mine = {(tp.topic, tp.partition) for tp in app.consumer.assignment()}
        try:
            standing = await group.read([names.raw_readings, names.status])
        except Exception as exc:  # the broker is away: the broker watch deals with that
            unavailable[0] += 1
            (logger.warning if unavailable[0] % 4 == 0 else logger.debug)(
                "group positions unavailable (%d checks in a row): %s", unavailable[0], exc)
            return
        unavailable[0] = 0
        held_elsewhere = {tp: (committed, max(0, end - committed))
                          for tp, (committed, end) in standing.items() if tp not in mine}
        stalled = others.observe(time.monotonic(), held_elsewhere,
                                 database_down=db.failing_since is not None)
        for (topic, partition), seconds in stalled.items():
            logger.critical("partition %s[%d], held by another member of the group: records "
                            "waiting and no progress for %.0f s; exiting with %d so that a "
                            "fresh worker's join reassigns it", topic, partition, seconds,
                            EXIT_STALLED)
        if stalled:
            exit_for_restart(EXIT_STALLED)

    @app.timer(LAG_INTERVAL_S)
    async def measure_lag() -> None:
        positions = await metrics.record_lag(app.consumer, {names.raw_readings, names.status})
        stalled = partitions.observe(time.monotonic(), positions,
                                     database_down=db.failing_since is not None)
        metrics.STALLED.clear()
        for (topic, partition), seconds in stalled.items():
            metrics.STALLED.labels(topic, str(partition)).set(seconds)
        if db.failing_since is None:  # for the monitoring page; never wait on it
            def report(conn: Any) -> Awaitable[None]:
                return stream_health.record(conn, app_id=stream.app_id, now=datetime.now(UTC),
                                            positions=positions, stalled=stalled)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(db.run("partition health", report),
                                       PARTITION_HEALTH_TIMEOUT_S)
        for (topic, partition), seconds in stalled.items():
            logger.critical("partition %s[%d]: records waiting and no progress for %.0f s; "
                            "exiting with %d for a fresh worker to resume it", topic,
                            partition, seconds, EXIT_STALLED)
        if stalled:
            exit_for_restart(EXIT_STALLED)

    liveness = PlatformLiveness(db=db, flags=out[names.flags],
                                silent_s=stream.gateway_offline_after_s)

    @app.timer(LIVENESS_CHECK_S)
    async def watch_liveness() -> None:
        if db.failing_since is not None:  # the database watch reports an outage; not this
            return
        try:
            await liveness.check(datetime.now(UTC))
        except Exception:  # a failed check must not end the worker; the next one retries
            logger.exception("platform liveness check failed")

    @app.timer(stream.completeness_interval_s)
    async def refresh_completeness() -> None:
        await completeness.refresh(db)

    return app
