"""Simulated gateways uploading to the ingest service (run as separate processes by
``trialwire bench ingest``).

Each gateway does what a real one does, minus Bluetooth: its device fills a batch of
``readings`` heart-rate readings ``rate`` times a second, it uploads what is due
(``POST .../uploads``, at most ``per_upload`` envelopes; the next upload when the previous
was answered) and keeps a watermark long-poll open. With ``rate`` 0 it uploads
``per_upload`` envelopes as fast as answers come (the service's capacity). Loopback only,
bounded by ``--duration``; prints one JSON object: accepted envelopes, upload latencies
(ms), refusals by status, and the bytes each gateway downloaded (response bodies).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

import httpx
import msgspec

from stream.contract.envelope import Envelope, WireReading, encode

LINGER_S = 0.2  # a gateway's batch_linger_ms: how often it looks for due batches


class SimulatedGateway(msgspec.Struct, frozen=True):
    """Who a simulated gateway is (written by the benchmark, read by the load process)."""

    gateway: str
    token: str
    subject: str
    device: str


@dataclass
class GatewayTally:
    envelopes: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    refused: dict[str, int] = field(default_factory=dict)
    bytes_down: int = 0


def smartwatch_batch(who: SimulatedGateway, seq_from: int, readings: int,
                     first: datetime | None = None) -> bytes:
    """A batch as a gateway cuts it: ``readings`` heart-rate values a second apart from
    ``first`` (default: the newest stamped now)."""
    now = datetime.now(UTC)
    first = first or now - timedelta(seconds=readings - 1)
    values = [WireReading(seq=seq_from + i, metric="heart_rate", value=60 + (seq_from + i) % 40,
                          unit="/min", time=first + timedelta(seconds=i), received_at=now)
              for i in range(readings)]
    return encode(Envelope(batch_id=str(uuid.uuid4()), gateway_id=who.gateway,
                           device_id=who.device, device_type="smartwatch", subject=who.subject,
                           seq_from=seq_from, seq_to=seq_from + readings - 1, sent_at=now,
                           readings=values))


def upload_body(who: SimulatedGateway, seq: int, *, readings: int, per_upload: int,
                start: datetime, seq_base: int) -> bytes:
    """``per_upload`` consecutive batches from ``seq`` as one upload (a JSON array). Their
    device clock runs ahead of real time from ``start``: a load faster than real time still
    arrives in order, as the flag rules expect."""
    batches = [smartwatch_batch(who, s, readings, start + timedelta(seconds=s - seq_base))
               for s in range(seq, seq + per_upload * readings, readings)]
    return b"[" + b",".join(batches) + b"]"


async def _upload(client: httpx.AsyncClient, who: SimulatedGateway, tally: GatewayTally, *,
                  until: float, readings: int, per_upload: int, rate: float, seq_base: int,
                  start: datetime) -> None:
    """Upload batches until ``until``. With ``rate`` (envelopes/s), as a real gateway does:
    its devices fill a batch every ``rate``-th of a second, and every ``LINGER_S`` (or as
    soon as the previous upload is answered, when behind) it uploads what is due, at most
    ``per_upload``. Without, as fast as answers come, ``per_upload`` each time."""
    seq = seq_base
    made = 0  # envelopes uploaded
    began = time.monotonic()
    headers = {"Authorization": f"Bearer {who.token}", "Content-Type": "application/json"}
    while (now := time.monotonic()) < until:
        due = min(per_upload, int((now - began) * rate) - made) if rate else per_upload
        if due < 1:
            await asyncio.sleep(LINGER_S)
            continue
        body = upload_body(who, seq, readings=readings, per_upload=due, start=start,
                           seq_base=seq_base)
        started = time.perf_counter()
        try:
            response = await client.post(f"/v1/gateways/{who.gateway}/uploads",
                                         content=body, headers=headers)
        except httpx.HTTPError as exc:
            tally.refused[type(exc).__name__] = tally.refused.get(type(exc).__name__, 0) + 1
            await asyncio.sleep(0.5)
            continue
        tally.bytes_down += len(response.content)
        taken = len(response.json()["accepted"]) if response.status_code == 200 else 0
        if taken:
            tally.envelopes += taken
            tally.latencies_ms.append((time.perf_counter() - started) * 1000)
            seq += taken * readings
            made += taken
        if taken < due:
            refused = response.json().get("refused") if response.status_code == 200 else None
            key = str(refused["status"] if refused else response.status_code)
            tally.refused[key] = tally.refused.get(key, 0) + 1
            await asyncio.sleep(float(response.headers.get("Retry-After", "1")))


async def _follow_watermarks(client: httpx.AsyncClient, who: SimulatedGateway,
                             tally: GatewayTally, *, until: float) -> None:
    version = 0
    headers = {"Authorization": f"Bearer {who.token}"}
    while (left := until - time.monotonic()) > 0:
        try:
            response = await client.get(f"/v1/gateways/{who.gateway}/watermarks", headers=headers,
                                        params={"after": version, "wait_s": min(left, 20.0)})
        except httpx.HTTPError:
            await asyncio.sleep(0.5)
            continue
        tally.bytes_down += len(response.content)
        if response.status_code == 200:
            version = max(version, int(response.json().get("version", 0)))


async def _gateway(url: str, who: SimulatedGateway, tally: GatewayTally, *, until: float,
                   readings: int, per_upload: int, rate: float, seq_base: int,
                   start: datetime) -> None:
    """One gateway with its own client (two connections: uploads and the long-poll), as a
    real one has: a client shared by hundreds spends its time scanning its pool."""
    async with httpx.AsyncClient(base_url=url, timeout=30,
                                 limits=httpx.Limits(max_connections=2)) as client:
        await asyncio.gather(
            _upload(client, who, tally, until=until, readings=readings,
                    per_upload=per_upload, rate=rate, seq_base=seq_base, start=start),
            _follow_watermarks(client, who, tally, until=until))


async def run(url: str, gateways: list[SimulatedGateway], *, duration: float, readings: int,
              per_upload: int, rate: float, seq_base: int) -> dict[str, Any]:
    host = urlparse(url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"refusing to load {host}: loopback only")
    tallies = {who.gateway: GatewayTally() for who in gateways}
    # Two days back: at ~one envelope per 10 ms a device's clock runs far ahead of real time.
    start = datetime.now(UTC) - timedelta(days=2)
    until = time.monotonic() + duration
    begin = time.perf_counter()
    await asyncio.gather(*(_gateway(url, who, tallies[who.gateway], until=until,
                                    readings=readings, per_upload=per_upload, rate=rate,
                                    seq_base=seq_base, start=start)
                           for who in gateways))
    wall = time.perf_counter() - begin
    refused: dict[str, int] = {}
    for tally in tallies.values():
        for key, n in tally.refused.items():
            refused[key] = refused.get(key, 0) + n
    return {"elapsed_s": wall,
            "envelopes": sum(t.envelopes for t in tallies.values()),
            "latencies_ms": [round(x, 2) for t in tallies.values() for x in t.latencies_ms],
            "refused": refused,
            "bytes_down": {g: t.bytes_down for g, t in tallies.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--gateways", required=True, help="JSON file of SimulatedGateway")
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--readings", type=int, default=20, help="readings per envelope")
    parser.add_argument("--per-upload", type=int, default=100,
                        help="envelopes per upload, at most")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="envelopes/s per gateway (0: as fast as answers come)")
    parser.add_argument("--seq-base", type=int, default=0)
    args = parser.parse_args()
    with open(args.gateways, "rb") as f:
        gateways = msgspec.json.decode(f.read(), type=list[SimulatedGateway])
    result = asyncio.run(run(args.url, gateways, duration=args.duration,
                             readings=args.readings, per_upload=args.per_upload,
                             rate=args.rate,
                             seq_base=args.seq_base))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
