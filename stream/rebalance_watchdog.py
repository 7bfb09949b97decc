"""End a worker whose start or rebalance never finishes (exit 75, for its supervisor).

Seen in CI: a replacement worker hung in Faust's partition assignment or table recovery
(waiting for a changelog offset the embedded broker never delivered) for 400 s, consuming
nothing. The partition watch cannot see it (no lag is reported before the worker is
ready), and Faust starts its timers only after the first recovery, so this runs as a
thread: it reads two flags (rebalancing; first recovery done) and never asks the consumer
anything, which could wait on the very hang.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from stream.agents.crash import exit_for_restart
from stream.app import EXIT_STALLED
from stream.partition_watch import RebalanceWatch

logger = logging.getLogger(__name__)

MIN_STUCK_S = 90.0  # joining the embedded broker's group alone takes 5-10 s; a busy box more
CHECK_EVERY_S = 5.0


def settling(app: Any) -> bool:
    """Whether the worker is starting (first recovery not done) or rebalancing."""
    recovery = getattr(app.tables, "recovery", None)
    started = recovery is not None and recovery.completed.is_set()
    return bool(app.rebalancing) or not started


def start(app: Any, *, stall_restart_s: float) -> threading.Thread:
    """Watch ``app`` from a daemon thread; stuck after max(stall_restart_s, MIN_STUCK_S)."""
    watch = RebalanceWatch(stuck_after_s=max(stall_restart_s, MIN_STUCK_S))

    def run() -> None:
        while True:
            time.sleep(CHECK_EVERY_S)
            lasted = watch.observe(time.monotonic(), settling(app))
            if lasted is not None:
                logger.critical("the worker has been starting or rebalancing for %.0f s "
                                "(assignment or table recovery hung); exiting with %d for a "
                                "fresh worker", lasted, EXIT_STALLED)
                exit_for_restart(EXIT_STALLED)

    thread = threading.Thread(target=run, name="rebalance-watchdog", daemon=True)
    thread.start()
    return thread
