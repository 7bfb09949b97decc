"""``trialwire bench``: benchmark commands that print JSON figures (never assertions).

The benchmarks are part of the package (``deploy/bench``), so they run from an installed
wheel as well as from a checkout; each is imported when its command runs."""

from __future__ import annotations

import json
from typing import Annotated, Literal

import typer

app = typer.Typer(help="Benchmarks; each prints one JSON object.", no_args_is_help=True)


def _storage(value: str) -> Literal["memory", "s3"]:
    """The embedded broker's storage option, checked."""
    if value == "memory":
        return "memory"
    if value == "s3":
        return "s3"
    raise typer.BadParameter(f"{value!r}: choose memory or s3", param_hint="--broker-storage")


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
    from deploy.bench import storage_bench as module

    result = module.run(rows=rows, batch=batch, query_days=query_days, buckets=buckets,
                        queries=queries)
    print(json.dumps(result, indent=2))


@app.command()
def gateway(
    duration: Annotated[float, typer.Option(help="Seconds measured per device count.")] = 60.0,
) -> None:
    """Gateway CPU% and RSS with 1, 4 and 8 devices at real rates; notification→ack p50/p99."""
    from deploy.bench import gateway_bench as module

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
    broker_storage: Annotated[str, typer.Option(
        help="Embedded broker storage: memory, or s3 (persistent, as `trialwire up`).")] = "memory",
) -> None:
    """Raw topic → database rows/s with all rules on (1 and 2 workers), raw COPY ceiling,
    and produce → flag latency at half load."""
    from deploy.bench import pipeline_bench as module

    print(json.dumps(module.run(subjects=subjects, envelopes=envelopes,
                                per_envelope=per_envelope, ecg_envelopes=ecg_envelopes,
                                segments=segments, partitions=partitions, probes=probes,
                                broker_storage=_storage(broker_storage)),
                     indent=2))


@app.command()
def catchup(
    homes: Annotated[int, typer.Option(help="Homes (a smartwatch and an ECG patch each).")] = 3,
    minutes: Annotated[float, typer.Option(help="Minutes the worker was stopped.")] = 30.0,
    partitions: Annotated[int, typer.Option(help="Raw topic partitions.")] = 4,
    broker_storage: Annotated[str, typer.Option(
        help="Embedded broker storage: s3 (persistent, as `trialwire up`) or memory.")] = "s3",
) -> None:
    """Backlog drain after a stalled worker: envelopes/s and speed-up over the live rate."""
    from deploy.bench import catchup_bench as module

    if homes < 1 or minutes <= 0 or partitions < 1:
        raise typer.BadParameter("homes and partitions must be ≥ 1, minutes > 0")
    print(json.dumps(module.run(homes=homes, minutes=minutes, partitions=partitions,
                                broker_storage=_storage(broker_storage)), indent=2))


@app.command()
def ingest(
    gateways: Annotated[int, typer.Option(help="Simulated gateways in the main phase.")] = 100,
    small: Annotated[int, typer.Option(help="Gateways in the first phase (download per "
                                            "gateway, to compare).")] = 10,
    duration: Annotated[float, typer.Option(help="Seconds per phase.")] = 30.0,
    processes: Annotated[int, typer.Option(help="Load processes sharing the gateways.")] = 2,
    readings: Annotated[int, typer.Option(help="Heart-rate readings per envelope.")] = 5,
    rate: Annotated[float, typer.Option(help="Envelopes/s all gateways offer together in "
                                             "the load phase.")] = 2000.0,
    per_upload: Annotated[int, typer.Option(help="Envelopes per upload in the capacity "
                                                 "phase (1 to 500).")] = 10,
) -> None:
    """HTTP ingest: envelopes/s and p50/p99 at an offered load, reading-to-API latency
    under it, capacity and its ratio to a bare Kafka producer, RSS, and per-gateway
    download at two gateway counts."""
    from deploy.bench import ingest_bench as module

    if (not 1 <= small <= gateways or duration <= 0 or processes < 1 or readings < 1
            or not 1 <= per_upload <= 500 or rate <= 0):
        raise typer.BadParameter("need 1 ≤ small ≤ gateways, duration > 0, processes and "
                                 "readings ≥ 1, 1 ≤ per-upload ≤ 500, rate > 0")
    print(json.dumps(module.run(gateways=gateways, small=small, duration=duration,
                                processes=processes, readings=readings,
                                per_upload=per_upload, rate=rate), indent=2))


@app.command()
def api(
    days: Annotated[int, typer.Option(help="Days of 1 Hz heart rate behind the readings query.")] = 30,
    rate: Annotated[float, typer.Option(help="Requests per second from the load process.")] = 50.0,
    duration: Annotated[float, typer.Option(help="Seconds of load per endpoint.")] = 30.0,
) -> None:
    """Readings (downsampled) and flags endpoints: req/s and p50/p99 under a bounded load."""
    from deploy.bench import api_bench as module

    print(json.dumps(module.run(days=days, rate=rate, duration=duration), indent=2))
