"""Connecting with the field's lessons: capped attempts, exponential backoff with full
jitter, a safety timeout around each attempt, and a typed error with advice at the end.

On a real hub (BlueZ) the connect goes through ``bleak-retry-connector``'s
``establish_connection``, which also cleans up stale BlueZ connections; with the bumble
backend the same policy runs here (bleak-retry-connector's BlueZ/D-Bus probes do not
apply to a virtual radio).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from typing import Any

from bleak import BleakClient
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError

from gateway.errors import ConnectError

logger = logging.getLogger(__name__)

BASE_BACKOFF_S = 0.25
MAX_BACKOFF_S = 8.0
CONNECT_TIMEOUT_S = 10.0
SAFETY_MARGIN_S = 5.0


def backoff_s(attempt: int, rng: random.Random | None = None) -> float:
    """Full jitter: uniform in [0, min(cap, base·2^attempt)]."""
    ceiling = min(MAX_BACKOFF_S, BASE_BACKOFF_S * (2 ** attempt))
    return (rng or random).uniform(0, ceiling)


async def connect_with_retry(
    target: BLEDevice | str,
    *,
    name: str,
    backend: type | None,
    attempts: int,
    pair: bool,
    disconnected_callback: Callable[[BleakClient], None] | None = None,
    client_kwargs: dict[str, Any] | None = None,
) -> BleakClient:
    """A connected BleakClient, or ConnectError after ``attempts`` tries."""
    if backend is None and isinstance(target, BLEDevice):  # real hub: BlueZ
        from bleak_retry_connector import establish_connection

        try:
            return await establish_connection(BleakClient, target, name,
                                              disconnected_callback=disconnected_callback,
                                              max_attempts=attempts, pair=pair)
        except BleakError as exc:
            raise ConnectError(f"{name}: {exc}") from exc
    last: Exception | None = None
    for attempt in range(attempts):
        client = BleakClient(target, disconnected_callback=disconnected_callback, pair=pair,
                             timeout=CONNECT_TIMEOUT_S, backend=backend, **(client_kwargs or {}))
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S + SAFETY_MARGIN_S):
                await client.connect()
            if attempt:
                logger.info("%s: connected after %d attempts", name, attempt + 1)
            return client
        except (BleakError, TimeoutError, OSError) as exc:
            last = exc
            delay = backoff_s(attempt)
            logger.debug("%s: connect attempt %d failed (%s); retrying in %.2f s", name,
                         attempt + 1, exc, delay)
            with contextlib.suppress(BleakError, TimeoutError, OSError):
                await client.disconnect()
            await asyncio.sleep(delay)
    raise ConnectError(f"{name}: failed to connect after {attempts} attempts: {last}",
                       advice="check the device is charged, worn and within range")
