"""Notice a partition the worker no longer consumes although records wait on it.

A partition is *stalled* when its lag is above zero and the worker's committed offset on
it has not moved for ``stall_after_s``, while the database is not known to be down (a
database outage stalls everything, and retrying is already the answer to that). What
stalls one partition for that long (a locked table, a wedged fetch, a consumer that lost
its assignment without noticing) is not cured by waiting; the worker exits for its
supervisor to start a fresh one, which re-joins the group and resumes from the committed
offsets: nothing is lost, and nobody has to restart it by hand.

Pure: the worker feeds it (committed, lag) per partition every few seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TopicPartition = tuple[str, int]


@dataclass(slots=True)
class _Progress:
    committed: int
    moved_at: float


@dataclass
class PartitionWatch:
    stall_after_s: float
    # Observations further apart than this mean the worker itself was not running (a
    # SIGSTOP, a suspended VM): that time is not the partition's fault, start afresh.
    paused_after_s: float = 30.0
    _seen: dict[TopicPartition, _Progress] = field(default_factory=dict)
    _last: float | None = None

    def observe(self, now: float, positions: dict[TopicPartition, tuple[int, int]], *,
                database_down: bool = False) -> dict[TopicPartition, float]:
        """Record (committed, lag) per partition at ``now``; return the stalled ones with
        the seconds since their committed offset last moved."""
        stalled: dict[TopicPartition, float] = {}
        paused = self._last is not None and now - self._last > self.paused_after_s
        self._last = now
        for tp, (committed, lag) in positions.items():
            seen = self._seen.get(tp)
            if (seen is None or committed != seen.committed or lag <= 0 or database_down
                    or paused):
                self._seen[tp] = _Progress(committed, now)
                continue
            if now - seen.moved_at >= self.stall_after_s:
                stalled[tp] = now - seen.moved_at
        for tp in set(self._seen) - set(positions):  # revoked: no longer ours to judge
            del self._seen[tp]
        return stalled


@dataclass
class RebalanceWatch:
    """Notice a rebalance that never ends: the worker joined, was assigned partitions and
    then hung in Faust's assignment handling or table recovery (seen once in CI after a
    SIGKILLed predecessor), consuming nothing, with no lag reported for the partition watch
    to judge. Fed ``app.rebalancing`` every few seconds; pure."""

    stuck_after_s: float
    paused_after_s: float = 30.0  # as PartitionWatch: a stopped worker's time is not counted
    _since: float | None = None
    _last: float | None = None

    def observe(self, now: float, rebalancing: bool) -> float | None:
        """The seconds the current rebalance has lasted, once over ``stuck_after_s``."""
        paused = self._last is not None and now - self._last > self.paused_after_s
        self._last = now
        if not rebalancing:
            self._since = None
            return None
        if self._since is None or paused:
            self._since = now
        lasted = now - self._since
        return lasted if lasted >= self.stuck_after_s else None
