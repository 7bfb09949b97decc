"""Batches from a Faust stream whose offsets are committed only when the batch is done.

``Stream.take_events`` acknowledges its events in a ``finally`` clause, so a batch whose
processing raised or was cancelled (worker shutdown) would still have its offsets
committed. Each message here gets one extra reference (``Message.incref``) before it is
handed out, given back only when the consumer asks for the next batch, i.e. after its
work completed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from faust import Stream
from faust.types import StreamT


@dataclass(frozen=True, slots=True)
class Record:
    """One Kafka record of a batch: key and value as sent (a tombstone's value is None)."""

    key: bytes | None
    value: bytes | None


async def committed_batches(stream: StreamT[bytes], max_: int, within_s: float,
                            ) -> AsyncIterator[list[Record]]:
    # take_events is faust-streaming's addition to Stream; StreamT does not declare it.
    assert isinstance(stream, Stream)
    async for events in stream.take_events(max_, within=within_s):
        held = list(events)
        for event in held:
            event.message.incref()
        yield [Record(_raw(e.message.key), _raw(e.value)) for e in held]
        # Reached only when the body finished the batch without raising.
        for event in held:
            event.ack()


def _raw(value: Any) -> bytes | None:
    return None if value is None else bytes(value)
