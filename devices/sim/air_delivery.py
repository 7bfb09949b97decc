"""When a virtual wearable's notification really went over the air.

bumble's ``notify_subscribers`` returns once the value is queued in the device's host:
the host hands ACL packets to the controller only as the controller completes earlier ones
(HCI Number Of Completed Packets), and at a disconnect it flushes what is still queued.
A simulator that counts a notification emitted when the call returns therefore claims
values that never left the device whenever its link is slower than its sensor, as when
the one process relaying every home's radio traffic is starved of CPU (the ``overload``
fault of ``trialwire eval chaos``), and the evaluation then blames the platform for them.

:class:`AirDelivery` counts, per connection handle, the packets the host queued and those
the controller completed (FIFO per connection), and notes which packets each notification
became (a context variable set around the send: bumble queues all of one notification's
fragments synchronously, inside the sending task). A notification counts as sent once the
controller took its last packet on any link it went to; as in doubt if a link dropped
after the host had handed its last packet to the controller but before the controller
reported it taken (it may or may not have reached the peer); and as unsent if neither
(every link flushed it still queued, or it was queued on none). bumble has no hook for this; the
queue's three methods are wrapped on the instance.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from bumble.host import DataPacketQueue, Host


@dataclass(frozen=True, slots=True)
class Outcome:
    """What to run when a notification's fate is known (exactly one of them runs)."""

    sent: Callable[[], None]
    in_doubt: Callable[[], None]
    unsent: Callable[[], None]


@dataclass(eq=False)
class Notification:
    """One notification on its way."""

    outcome: Outcome
    last: dict[int, int] = field(default_factory=dict)  # handle -> its last packet's number
    doubt: bool = False  # a link dropped with its last packet in the controller
    done: bool = False
    queued: bool = False  # its send is over: no more packets will come

    def took(self) -> None:
        if not self.done:
            self.done = True
            self.outcome.sent()

    def dropped(self, handle: int, *, handed: bool) -> None:
        self.last.pop(handle, None)
        self.doubt = self.doubt or handed
        self.settle()

    def settle(self) -> None:
        if self.queued and not self.last and not self.done:
            self.done = True
            (self.outcome.in_doubt if self.doubt else self.outcome.unsent)()


_sending: ContextVar[Notification | None] = ContextVar("air_delivery_sending", default=None)


@dataclass
class _Link:
    queued: int = 0  # packets the host queued on this handle
    handed: int = 0  # ... handed to the controller
    completed: int = 0  # ... and the controller completed
    waiting: deque[Notification] = field(default_factory=deque)


class AirDelivery:
    """Tracks one host's LE ACL queue. :meth:`install` once the device is powered on
    (before any link: a packet queued before it would be miscounted); again after a reset."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self._queue: DataPacketQueue | None = None
        self._links: dict[int, _Link] = {}

    @contextlib.contextmanager
    def sending(self, outcome: Outcome) -> Iterator[Notification]:
        """Around one ``notify_subscribers`` call: the packets it queues are this
        notification's; one of ``outcome``'s callbacks runs when their fate is known
        (maybe later)."""
        self.install()
        note = Notification(outcome)
        token = _sending.set(note)
        try:
            yield note
        finally:
            _sending.reset(token)
            note.queued = True
            note.settle()

    def install(self) -> None:
        queue = self.host.le_acl_packet_queue
        if queue is None or queue is self._queue:
            return
        self._queue = queue
        self._links.clear()
        enqueue, completed, flush = queue.enqueue, queue.on_packets_completed, queue.flush
        send = queue._send

        def on_send(packet: Any) -> None:
            handle = getattr(packet, "connection_handle", None)
            if isinstance(handle, int) and (link := self._links.get(handle)) is not None:
                link.handed += 1
            send(packet)

        def on_enqueue(packet: Any, connection_handle: int) -> None:
            link = self._links.setdefault(connection_handle, _Link())
            link.queued += 1
            note = _sending.get()
            if note is not None and not note.done:
                if connection_handle not in note.last:
                    link.waiting.append(note)
                note.last[connection_handle] = link.queued
            enqueue(packet, connection_handle)

        def on_completed(packet_count: int, connection_handle: int) -> None:
            completed(packet_count, connection_handle)
            link = self._links.get(connection_handle)
            if link is None:
                return
            link.completed = min(link.queued, link.completed + packet_count)
            while link.waiting and \
                    link.waiting[0].last.get(connection_handle, 0) <= link.completed:
                link.waiting.popleft().took()

        def on_flush(connection_handle: int) -> None:
            flush(connection_handle)
            # The handle is free for the next connection: its counts start again.
            link = self._links.pop(connection_handle, None)
            if link is None:
                return
            for note in link.waiting:
                note.dropped(connection_handle,
                             handed=note.last.get(connection_handle, 0) <= link.handed)

        queue._send = on_send
        queue.enqueue = on_enqueue  # type: ignore[method-assign]
        queue.on_packets_completed = on_completed  # type: ignore[method-assign]
        queue.flush = on_flush  # type: ignore[method-assign]
