"""The live page's fan-out (``api/live/hub.py``): notices reach the streams of their study
only; a stream that falls behind loses its queue and is told to re-read; the number of
streams is capped; and the notice parser never raises."""

from __future__ import annotations

from api.live.hub import RESYNC, FlagEventHub
from storage.flag_events import FlagEvent, parse


async def test_notices_reach_their_studys_streams_and_a_slow_one_is_told_to_resync() -> None:
    hub = FlagEventHub("postgresql://unused", max_subscribers=2, queue_size=3)
    mine, other = hub.subscribe("ST-1"), hub.subscribe("ST-2")
    assert mine is not None and other is not None
    assert hub.subscribe("ST-1") is None  # the cap
    for flag in range(1, 6):  # more than the queue holds
        hub.publish(FlagEvent("ST-1", flag, "flag", "open"))
    got = [await mine.next(0.1) for _ in range(4)]
    # The first three were queued; the fourth found it full: dropped for a resync, then
    # the fifth queued behind it.
    assert got == [RESYNC, FlagEvent("ST-1", 5, "flag", "open"), None, None]
    assert await other.next(0.05) is None
    hub.unsubscribe(mine)
    assert hub.subscribe("ST-1") is not None


def test_the_notice_parser_takes_its_own_notices_and_nothing_else() -> None:
    assert parse('{"study": "ST-1", "flag": 7, "kind": "delivery", "status": "dead"}') == \
        FlagEvent("ST-1", 7, "delivery", "dead")
    for junk in ("", "null", "{}", '{"study": 1, "flag": "x", "kind": "", "status": ""}', "\x00"):
        assert parse(junk) is None
