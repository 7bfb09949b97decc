"""Client-side step over the embedded Tansu broker's offset holes.

When two producers race for one offset, Tansu stores one batch, answers the other with
UnknownError ("AlreadyExists" in its log) and can still count the loser's records in the
high watermark. A fetch at such an offset returns nothing (Kafka would return the next
batch), so a consumer standing there waits for ever: a stream worker ready and consuming
nothing, Faust's table recovery never finishing, a gateway never seeing its watermarks.
Seen after an in-memory broker restart, when every client reconnects and writes at once.

A partition whose fetches come back empty although the high watermark is past the
position, for ``STUCK_AFTER_S``, is advanced one offset per fetch until records come again
(:class:`HoleWatch` decides, pure). On a real Kafka cluster an empty answer below the
high watermark does not happen under read_uncommitted; the patch is applied only for the
embedded broker (``stream/kafka/settings.py::prepare_clients``). What a worker steps over
unstored, its gateway re-sends (a ``skipped`` verdict, ``stream/contract/loss_evidence.py``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from aiokafka.consumer.fetcher import Fetcher
from aiokafka.structs import TopicPartition

logger = logging.getLogger(__name__)

STUCK_AFTER_S = 3.0
_applied = False


@dataclass
class HoleWatch:
    """Per partition: since when fetches at the position below the high watermark came
    back empty."""

    stuck_after_s: float = STUCK_AFTER_S
    _empty_since: dict[TopicPartition, float] = field(default_factory=dict)

    def step_over(self, tp: TopicPartition, *, position: int, highwater: int | None,
                  got_records: bool, now: float) -> bool:
        """Whether to advance ``tp`` past ``position`` after this fetch."""
        if got_records or highwater is None or highwater <= position:
            self._empty_since.pop(tp, None)
            return False
        since = self._empty_since.setdefault(tp, now)
        return now - since >= self.stuck_after_s


def apply() -> None:
    """Patch aiokafka's fetch handling once per process."""
    global _applied
    if _applied:
        return
    original = Fetcher._proc_fetch_request

    async def proc_fetch_request(self: Fetcher, assignment: Any, node_id: int,
                                 request: Any) -> Any:
        result = await original(self, assignment, node_id, request)
        if assignment.active:
            watch: HoleWatch = self.__dict__.setdefault("_trialwire_holes", HoleWatch())
            now = time.monotonic()
            for topic, partitions in request.topics:
                for partition, offset, _max_bytes in partitions:
                    _judge(self, watch, assignment, TopicPartition(topic, partition), offset,
                           now)
        return result

    Fetcher._proc_fetch_request = proc_fetch_request
    _applied = True


def _judge(fetcher: Fetcher, watch: HoleWatch, assignment: Any, tp: TopicPartition,
           offset: int, now: float) -> None:
    state = assignment.state_value(tp)
    if state is None or not state.has_valid_position or state.position != offset:
        return
    if watch.step_over(tp, position=offset, highwater=state.highwater,
                       got_records=tp in fetcher._records, now=now):
        state.consumed_to(offset + 1)
        logger.warning("%s[%d]: nothing delivered at offset %d below the high watermark %s "
                       "(a hole the embedded broker left); reading on from %d", tp.topic,
                       tp.partition, offset, state.highwater, offset + 1)
