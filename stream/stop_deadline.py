"""A stop that cannot hang: every process stops within 10 s of SIGTERM.

Faust's worker stops gracefully on SIGTERM/SIGINT, but its shutdown waits on the broker
(final commits, leaving the group); with the broker already gone (``trialwire up``
stopping, a terminal closed) it waited for ever. :class:`DeadlineWorker` arms a timer on
the first stop signal and ends the process when the graceful stop overruns it. Nothing
is lost: offsets move only after the database commit.
"""

from __future__ import annotations

import logging
import os
import signal
import threading

from faust import Worker

logger = logging.getLogger(__name__)

STOP_DEADLINE_S = 8.0


def exit_after(seconds: float) -> threading.Timer:
    """End the process with status 0 in ``seconds`` unless it is gone by then."""
    def overrun() -> None:
        logger.warning("graceful stop still running after %.0f s; exiting now", seconds)
        logging.shutdown()
        os._exit(0)
    timer = threading.Timer(seconds, overrun)
    timer.daemon = True  # a process that ends in time does not wait for it
    timer.start()
    return timer


class DeadlineWorker(Worker):
    """Faust's worker with a deadline on stopping."""

    _deadline: threading.Timer | None = None

    def _schedule_shutdown(self, signal: signal.Signals) -> None:
        if self._deadline is None:
            self._deadline = exit_after(STOP_DEADLINE_S)
        super()._schedule_shutdown(signal)
