"""An agent that crashes ends the worker, so its supervisor starts a fresh one.

Faust logs a crashed agent and keeps the worker running without it: the process looks
alive, its partitions stay assigned to it, and nothing more is stored (seen after a
broker restart: a publish failed with UnknownError and the worker sat idle until
stopped). Exiting is safe: offsets are committed only after the database commit, so a
fresh worker is handed everything the crashed agent had not finished. Bad records never
get here: they are dead-lettered one by one (:mod:`stream.agents.pipeline`).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable
from typing import Any, NoReturn

logger = logging.getLogger(__name__)

EXIT_AGENT_CRASHED = 70  # EX_SOFTWARE: restart me

AgentBody = Callable[[Any], AsyncIterator[None]]


def exit_for_restart(code: int) -> NoReturn:
    """End the worker now, logs flushed, for its supervisor to start a fresh one.

    Not ``app.stop()``: a broker in trouble can hang Faust's shutdown on the commits it
    refuses (shared/kafka-compat.md §6). Nothing uncommitted is lost: offsets move only
    after the database commit.
    """
    logging.shutdown()
    os._exit(code)


def exit_on_crash(name: str, body: AgentBody) -> AgentBody:
    """``body`` as an agent whose unexpected exception ends the process."""
    async def run(stream: Any) -> AsyncIterator[None]:
        try:
            async for item in body(stream):
                yield item
        except (asyncio.CancelledError, GeneratorExit):
            raise
        except Exception:
            logger.critical("agent %s crashed; exiting with %d so a fresh worker takes over "
                            "(its offsets were not committed)", name, EXIT_AGENT_CRASHED,
                            exc_info=True)
            exit_for_restart(EXIT_AGENT_CRASHED)
    run.__name__ = run.__qualname__ = f"{name}_agent"
    return run
