"""Client-side correction for the embedded Tansu broker's ListOffsets(LATEST) defect.

Tansu answers ListOffsets(LATEST) with *base offset of the newest batch + 1*, which is
wrong whenever that batch holds more than one record (``shared/kafka-compat.md`` §2).
That breaks ``end_offsets()``, ``seek_to_end()``, lag, ``auto_offset_reset="latest"``
and silently loses Faust table updates on recovery. Its Fetch responses carry the right
high watermark, so for every LATEST lookup we also send a Fetch for the partition and
take the high watermark (the last stable offset under read_committed) as the end. On a real
Kafka cluster both answers agree, so the fix is harmless there, but it
is only applied when the configured broker is the embedded one.
"""

from __future__ import annotations

import logging
from typing import Any

from aiokafka import errors as kafka_errors
from aiokafka.consumer.fetcher import Fetcher, OffsetResetStrategy
from aiokafka.protocol.fetch import FetchRequest
from aiokafka.structs import TopicPartition

logger = logging.getLogger(__name__)

_READ_COMMITTED = 1
_FETCH_WAIT_MS = 10  # Tansu needs max_wait > 0 to answer with a high watermark
_applied = False


async def _high_watermarks(fetcher: Fetcher, node_id: int,
                           positions: dict[TopicPartition, int]) -> dict[TopicPartition, int]:
    """End offset per partition as reported by a Fetch from ``positions``."""
    by_topic: dict[str, list[tuple[int, int, int]]] = {}
    for tp, offset in positions.items():
        by_topic.setdefault(tp.topic, []).append((tp.partition, max(offset, 0), 1))
    request = FetchRequest(_FETCH_WAIT_MS, 0, 1, fetcher._isolation_level, list(by_topic.items()))
    response = await fetcher._client.send(node_id, request)
    ends: dict[TopicPartition, int] = {}
    for topic, partitions in response.topics:
        for partition, error_code, highwater, *part_data in partitions:
            if kafka_errors.for_code(error_code) is not kafka_errors.NoError:
                continue
            end = highwater
            if fetcher._isolation_level == _READ_COMMITTED and response.API_VERSION >= 4:
                lso = part_data[0]
                if lso is not None and lso >= 0:
                    end = lso
            ends[TopicPartition(topic, partition)] = end
    return ends


def apply() -> None:
    """Patch aiokafka's offset lookup once per process."""
    global _applied
    if _applied:
        return
    original = Fetcher._proc_offset_request

    async def proc_offset_request(self: Fetcher, node_id: int,
                                  topic_data: dict[str, list[tuple[int, int]]]) -> Any:
        offsets = await original(self, node_id, topic_data)
        latest = {
            TopicPartition(topic, partition): offsets[TopicPartition(topic, partition)][0]
            for topic, parts in topic_data.items()
            for partition, timestamp in parts
            if timestamp == OffsetResetStrategy.LATEST
            and TopicPartition(topic, partition) in offsets
        }
        if not latest:
            return offsets
        try:
            ends = await _high_watermarks(self, node_id, latest)
        except kafka_errors.KafkaError as exc:
            logger.debug("high-watermark correction skipped: %s", exc)
            return offsets
        for tp, end in ends.items():
            listed, timestamp = offsets[tp]
            if end != listed:
                # Lower too: after a restart of the in-memory broker, a topic a client
                # wrote to before it was created again ("ghost" writes) lists an end
                # its Fetch never delivers, and Faust's recovery would wait for it forever.
                offsets[tp] = (end, timestamp)
        return offsets

    Fetcher._proc_offset_request = proc_offset_request
    _applied = True
    logger.info("applied the Tansu ListOffsets(LATEST) client-side correction")
