"""Connecting with the field's lessons: capped attempts, exponential backoff with jitter
(``retry_policy.CONNECT``), a safety timeout around each attempt, and a typed error with
advice at the end.

On a real hub (BlueZ) the connect goes through ``bleak-retry-connector``'s
``establish_connection``, which also cleans up stale BlueZ connections; with the bumble
backend the same policy runs here (bleak-retry-connector's BlueZ/D-Bus probes do not
apply to a virtual radio).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import stamina
from bleak import BleakClient
from bleak.backends.device import BLEDevice
from bleak.exc import BleakError

from gateway import retry_policy
from gateway.errors import ConnectError
from gateway.retry_policy import BLE_TRANSIENT

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0
SAFETY_MARGIN_S = 5.0


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
    try:
        async for attempt in stamina.retry_context(on=BLE_TRANSIENT, attempts=attempts,
                                                   **retry_policy.CONNECT.stamina_kwargs()):
            with attempt:
                client = BleakClient(target, disconnected_callback=disconnected_callback,
                                     pair=pair, timeout=CONNECT_TIMEOUT_S, backend=backend,
                                     **(client_kwargs or {}))
                try:
                    async with asyncio.timeout(CONNECT_TIMEOUT_S + SAFETY_MARGIN_S):
                        await client.connect()
                except BLE_TRANSIENT as exc:
                    logger.debug("%s: connect attempt %d failed (%s)", name, attempt.num, exc)
                    with contextlib.suppress(*BLE_TRANSIENT):
                        await client.disconnect()
                    raise
                if attempt.num > 1:
                    logger.info("%s: connected after %d attempts", name, attempt.num)
                return client
    except BLE_TRANSIENT as exc:
        raise ConnectError(f"{name}: failed to connect after {attempts} attempts: {exc}",
                           advice="check the device is charged, worn and within range") from exc
    raise AssertionError("stamina ends a retry context by returning or raising")
