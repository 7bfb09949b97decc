"""``trialwire bench``: benchmark commands that print JSON figures (never assertions).

The benchmark code lives beside the tests (``tests/bench``) in a source checkout.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Annotated

import typer

from deploy.cli.output import fail

app = typer.Typer(help="Benchmarks; each prints one JSON object.", no_args_is_help=True)

_CHECKOUT = Path(__file__).resolve().parents[2]


def _load(name: str) -> ModuleType:
    if not (_CHECKOUT / "tests" / "bench" / f"{name}.py").exists():
        fail(f"benchmarks run from a source checkout (pip install -e .); "
             f"tests/bench/{name}.py not found under {_CHECKOUT}")
    if str(_CHECKOUT) not in sys.path:
        sys.path.insert(0, str(_CHECKOUT))
    return importlib.import_module(f"tests.bench.{name}")


@app.command()
def storage(
    rows: Annotated[int, typer.Option(help="Rows written by each of writer and raw COPY.")]
    = 1_000_000,
    batch: Annotated[int, typer.Option(help="Rows per write transaction.")] = 10_000,
    query_days: Annotated[int, typer.Option(help="Days of 1 Hz data for the query test.")] = 30,
    buckets: Annotated[int, typer.Option(help="Buckets per downsampled query.")] = 500,
    queries: Annotated[int, typer.Option(help="Timed downsampled queries.")] = 200,
) -> None:
    """Writer vs raw binary COPY rows/s, and downsampled query latency (p50/p99)."""
    module = _load("storage_bench")
    result = module.run(rows=rows, batch=batch, query_days=query_days, buckets=buckets,
                        queries=queries)
    print(json.dumps(result, indent=2))


@app.command()
def gateway(
    duration: Annotated[float, typer.Option(help="Seconds measured per device count.")] = 60.0,
) -> None:
    """Gateway CPU% and RSS with 1, 4 and 8 devices at real rates; notification→ack p50/p99."""
    module = _load("gateway_bench")
    print(json.dumps(module.run(duration_s=duration), indent=2))


@app.command()
def pipeline(
    subjects: Annotated[int, typer.Option(help="Subjects (each a watch and an ECG patch).")] = 100,
    envelopes: Annotated[int, typer.Option(help="Vitals envelopes per phase.")] = 8_000,
    per_envelope: Annotated[int, typer.Option(help="Readings per vitals envelope.")] = 100,
    ecg_envelopes: Annotated[int, typer.Option(help="ECG envelopes per phase.")] = 3_000,
    segments: Annotated[int, typer.Option(help="73-sample segments per ECG envelope.")] = 40,
    partitions: Annotated[int, typer.Option(help="Raw topic partitions.")] = 4,
    probes: Annotated[int, typer.Option(help="Flag-latency probes at half load.")] = 30,
) -> None:
    """Raw topic → database rows/s with all rules on (1 and 2 workers), raw COPY ceiling,
    and produce → flag latency at half load."""
    module = _load("pipeline_bench")
    print(json.dumps(module.run(subjects=subjects, envelopes=envelopes,
                                per_envelope=per_envelope, ecg_envelopes=ecg_envelopes,
                                segments=segments, partitions=partitions, probes=probes),
                     indent=2))


@app.command()
def api(
    days: Annotated[int, typer.Option(help="Days of 1 Hz heart rate behind the readings query.")] = 30,
    rate: Annotated[float, typer.Option(help="Requests per second from the load process.")] = 50.0,
    duration: Annotated[float, typer.Option(help="Seconds of load per endpoint.")] = 30.0,
) -> None:
    """Readings (downsampled) and flags endpoints: req/s and p50/p99 under a bounded load."""
    module = _load("api_bench")
    print(json.dumps(module.run(days=days, rate=rate, duration=duration), indent=2))
