"""A bounded HTTP load generator (run as a separate process by ``bench api``).

Open loop at a fixed rate to loopback only, for a fixed time, then it stops by itself and
prints one JSON object: achieved requests/s, latency percentiles and errors.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from urllib.parse import urlparse

import httpx

from deploy.bench.report import percentile


async def run(url: str, token: str, paths: list[str], rate: float, duration: float,
              ) -> dict[str, float]:
    host = urlparse(url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"refusing to load {host}: loopback only")
    latencies: list[float] = []
    errors = 0
    rng = random.Random(4)
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"},
                                 timeout=30, limits=httpx.Limits(max_connections=64)) as client:

        async def one(path: str) -> None:
            nonlocal errors
            started = time.perf_counter()
            try:
                response = await client.get(path)
                if response.status_code != 200:
                    errors += 1
            except httpx.HTTPError:
                errors += 1
            latencies.append((time.perf_counter() - started) * 1000)

        tasks = []
        begin = time.perf_counter()
        n = 0
        while (elapsed := time.perf_counter() - begin) < duration:
            due = begin + n / rate
            if due > time.perf_counter():
                await asyncio.sleep(due - time.perf_counter())
            tasks.append(asyncio.create_task(one(rng.choice(paths))))
            n += 1
        await asyncio.gather(*tasks)
        wall = time.perf_counter() - begin
    return {"requests": len(latencies), "rps": round(len(latencies) / wall, 1),
            "p50_ms": round(percentile(latencies, 50), 1),
            "p99_ms": round(percentile(latencies, 99), 1), "errors": errors,
            "target_rps": rate, "elapsed_s": round(elapsed, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("paths", nargs="+")
    args = parser.parse_args()
    result = asyncio.run(run(args.url, args.token, args.paths, args.rate, args.duration))
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
