"""Test harness: envelopes to produce, waits with worker diagnostics, and database reads;
the workers themselves run through :class:`deploy.bench.stream_rig.StreamRig`."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from deploy.bench.stream_rig import StreamRig
from stream.contract.envelope import Envelope, WireReading, encode

# A week ago at 08:00: inside the worker's time window (400 days back, 1 ahead) on any
# day the suite runs.
T0 = (datetime.now(UTC) - timedelta(days=7)).replace(hour=8, minute=0, second=0,
                                                       microsecond=0)


def hr_envelope(seq_from: int, values: list[float], *, device: str = "W-1", subject: str = "S-1",
                gateway: str = "GW-1", start: datetime = T0, step_s: float = 1.0,
                metric: str = "heart_rate", unit: str = "/min", batch_id: str | None = None,
                backfilled: bool = False) -> bytes:
    readings = [WireReading(seq=seq_from + i, metric=metric, value=v, unit=unit,
                            time=start + timedelta(seconds=(seq_from + i) * step_s),
                            received_at=start + timedelta(seconds=(seq_from + i) * step_s),
                            backfilled=backfilled)
                for i, v in enumerate(values)]
    return encode(Envelope(batch_id=batch_id or str(uuid.uuid4()), gateway_id=gateway,
                           device_id=device, device_type="smartwatch", subject=subject,
                           seq_from=seq_from, seq_to=seq_from + len(values) - 1, sent_at=start,
                           readings=readings))


async def wait_for(check: Callable[[], Awaitable[bool]], *, timeout: float, what: str,
                   rig: StreamRig | None = None) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if await check():
            return
        crashed = [] if rig is None else rig.crashed()
        if crashed:
            raise AssertionError(f"a worker exited ({crashed[0].returncode}) while waiting "
                                 f"for {what}:\n{rig.log('w1')[-3000:]}")
        await asyncio.sleep(0.5)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n"
                         f"{rig.diagnostics() if rig else ''}")


async def supervise_until(check: Callable[[], Awaitable[bool]], *, rig: StreamRig,
                          timeout: float, what: str, restart_code: int) -> int:
    """``wait_for``, restarting a worker that exits with ``restart_code`` as its supervisor
    (systemd, Kubernetes) would; returns how many restarts it took."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    restarts = 0
    while loop.time() < deadline:
        if await check():
            return restarts
        for proc in rig.crashed():
            if proc.returncode != restart_code:
                raise AssertionError(f"a worker exited ({proc.returncode}) while waiting "
                                     f"for {what}:\n{rig.diagnostics()}")
            rig.stopped.append(proc)
            restarts += 1
            rig.start_worker(f"restart-{restarts}")
        await asyncio.sleep(0.5)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{rig.diagnostics()}")


async def scalar(dsn: str, sql: str, params: tuple[Any, ...] = ()) -> Any:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        row = await (await conn.execute(sql, params)).fetchone()
        return row[0] if row else None
