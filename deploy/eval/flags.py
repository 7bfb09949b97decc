"""``trialwire eval flags``: scenarios of virtual wearables through the real pipeline
(bumble radio → gateways → broker → stream worker → PostgreSQL), flags scored against the
scenarios' ground truth.

Each scenario runs ``seeds`` homes at once (one subject each) at a simulated speed-up; when
the scenario has played out, the wearables stop, the gateways' spools drain (everything
persisted), and the flags of those subjects are scored.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from rich.console import Console

from deploy.eval.homes import Homes, default_start, gateway_config, register
from deploy.eval.platform import Platform
from devices.catalog import DeviceType
from devices.sim.scenario import scenario
from storage.queries import evaluation
from stream.flags.scoring import RULES_FOR_EVENT, RaisedFlag, Truth, score

# The wearables each scenario needs, and a speed-up that keeps the radio traffic sane.
SETUPS: dict[str, tuple[tuple[DeviceType, ...], float]] = {
    "hypo": ((DeviceType.CGM,), 60.0),
    "hyper": ((DeviceType.CGM,), 60.0),
    "tachycardia": ((DeviceType.SMARTWATCH,), 20.0),
    "bradycardia": ((DeviceType.SMARTWATCH,), 20.0),
    "desaturation": ((DeviceType.SMARTWATCH,), 10.0),
    "af": ((DeviceType.ECG_PATCH,), 10.0),
    "fever": ((DeviceType.SMARTWATCH,), 60.0),
    "baseline": ((DeviceType.SMARTWATCH, DeviceType.CGM), 60.0),
}
DEFAULT_SCENARIOS = ("hypo", "tachycardia", "desaturation")


_stderr = Console(stderr=True, highlight=False)


def _progress(message: str) -> None:
    """Progress on stderr, so stdout stays one JSON object."""
    _stderr.print(f"[eval] {message}", markup=False)


async def _run_scenario(platform: Platform, root: Path, name: str, seeds: list[int],
                        report: Callable[[str], None]) -> dict[str, Any]:
    devices, speed = SETUPS[name]
    play = scenario(name)
    start = default_start()
    conn = await platform.connect()
    try:
        for seed in seeds:
            await register(conn, gateway_config(seed, devices), since=start - timedelta(hours=1))
    finally:
        await conn.close()
    homes = Homes(root / name, platform.kafka)
    try:
        for seed in seeds:
            await homes.add(seed, scenario=name, speed=speed, devices=devices, start=start)
        real_s = play.duration_s / speed
        report(f"{name}: {len(seeds)} home(s), {play.duration_s / 60:.0f} simulated minutes "
               f"at {speed:g}x ({real_s:.0f} s)")
        await asyncio.sleep(real_s)
        await homes.settle()
    finally:
        await homes.stop()
    await asyncio.sleep(2.0)  # the worker's last batch: flags are stored before watermarks
    subjects = [f"S-{seed:04d}" for seed in seeds]
    truths = [Truth(f"S-{seed:04d}", g.kind, g.start, g.end)
              for seed in seeds for g in play.ground_truth(start) if g.kind in RULES_FOR_EVENT]
    conn = await platform.connect()
    try:
        flags = [RaisedFlag(f.subject, f.rule_id, f.window_start, f.window_end, f.raised_at)
                 for f in await evaluation.flags_of_subjects(conn, subjects=subjects)]
    finally:
        await conn.close()
    kinds = {t.kind for t in truths}
    result = score(truths, flags, kinds)
    anomaly_rules = {r for rules in RULES_FOR_EVENT.values() for r in rules}
    others = sorted({f.rule_id for f in flags if f.rule_id not in
                     {r for k in kinds for r in RULES_FOR_EVENT[k]}})
    return {
        "sensitivity": None if result.sensitivity is None else round(result.sensitivity, 3),
        "ppv": None if result.ppv is None else round(result.ppv, 3),
        "median_onset_delay_s": result.median_onset_delay_s,
        "median_raise_delay_s": result.median_raise_delay_s,
        "events": result.events, "detected": result.detected,
        "flags": result.flags, "true_flags": result.true_flags,
        "other_anomaly_flags": sum(1 for f in flags if f.rule_id in anomaly_rules
                                   and f.rule_id in others),
        "other_rules": others,
        "homes": len(seeds), "speed": speed, "simulated_minutes": play.duration_s / 60,
        "event_kinds": sorted(str(k) for k in kinds),
    }


async def evaluate(root: Path, scenarios: list[str], seeds: int,
                   report: Callable[[str], None] = _progress) -> dict[str, Any]:
    unknown = [s for s in scenarios if s not in SETUPS]
    if unknown:
        raise ValueError(f"unknown scenario(s) {unknown}; choose from {sorted(SETUPS)}")
    report("starting embedded PostgreSQL, broker and a stream worker")
    platform = await Platform.start(root)
    try:
        platform.start_worker()
        results = {}
        for i, name in enumerate(scenarios):
            homes = [1000 * (i + 1) + k for k in range(seeds)]
            results[name] = await _run_scenario(platform, root, name, homes, report)
            report(f"{name}: {results[name]}")
        return {"scenarios": results}
    finally:
        platform.stop()


def run(scenarios: list[str], seeds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="trialwire-eval-") as tmp:
        return asyncio.run(evaluate(Path(tmp), scenarios, seeds))
