"""Test harness: a virtual home and a gateway (bleak over bumble) on one in-process radio,
uploading to the real broker; plus a reader of what arrived on the raw topic."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from deploy.eval.homes import gateway_config as home_gateway_config
from devices.catalog import DeviceType
from devices.sim.emission import EmissionLog
from devices.sim.home import HomeConfig, VirtualHome
from devices.sim.radio import VirtualRadio
from gateway.ble.bumble_backend import BumbleAdapter, BumbleClient, BumbleScanner, use_adapter
from gateway.runner import Gateway
from gateway.wallclock import ScaledClock
from stream.contract import envelope as envelopes
from stream.contract import topics
from stream.contract.gateway_config import GatewayConfig
from stream.contract.status import GatewayStatus
from stream.kafka.admin import ensure_topics
from stream.kafka.settings import KafkaSettings

START = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def gateway_config(seed: int, devices: tuple[DeviceType, ...], **overrides: object) -> GatewayConfig:
    """The package's home gateway config, in the gateway tests' own study."""
    return home_gateway_config(seed, devices, study="TEST", **overrides)


@dataclass
class Rig:
    radio: VirtualRadio
    home: VirtualHome
    log: EmissionLog
    gateway: Gateway
    adapter: BumbleAdapter
    config: GatewayConfig
    kafka: KafkaSettings
    data_dir: Path
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def stop(self) -> None:
        await self.home.stop()
        await self.gateway.stop()
        await self.adapter.close()
        use_adapter(None)

    async def drain(self, timeout: float = 60) -> None:
        """Wait until everything captured has been acknowledged by the broker."""
        async with asyncio.timeout(timeout):
            while True:
                await self.gateway.writer.flush()
                depth = self.gateway.spool.depth()
                if depth.unbatched == 0 and depth.batches_built == 0:
                    return
                await asyncio.sleep(0.2)

    async def finish(self, timeout: float = 60) -> GatewayStatus:
        """Stop the wearables, wait for the gateway to drain; the gateway's status."""
        await self.home.stop()
        await self.drain(timeout)
        return self.gateway.status()

    def serial_of(self, device_id: str) -> str:
        return device_id.removeprefix("DEV-")


async def start_rig(tmp_path: Path, kafka: KafkaSettings, *, seed: int, scenario: str,
                    speed: float, devices: tuple[DeviceType, ...],
                    before_gateway: Callable[[VirtualHome], Awaitable[None]] | None = None,
                    home_overrides: dict[str, Any] | None = None, token: str | None = None,
                    **config_overrides: object) -> Rig:
    """A running home and gateway; ``before_gateway`` runs on the home before the gateway
    starts (to let records pile up, or to set a device's fault knobs); ``home_overrides``
    are :class:`HomeConfig` fields; ``token`` is the gateway's, for ``upload="ingest"``."""
    await ensure_topics(kafka, partitions={t.name: 2 for t in topics.TOPICS})
    radio = VirtualRadio()
    log = EmissionLog()

    async def factory(name: str, address: str):
        return radio.device(name, address), radio.controller(address)

    home = VirtualHome(HomeConfig(seed=seed, scenario=scenario, speed=speed, devices=devices,
                                  start=START, glucose_meter_interval_s=60.0,
                                  bp_interval_s=120.0, **(home_overrides or {})), factory, log)
    await home.start()
    if before_gateway is not None:
        await before_gateway(home)
    adapter = await BumbleAdapter.on_device(radio.device("gateway", f"F0:00:00:00:{seed % 256:02X}:01"))
    use_adapter(adapter)
    config = gateway_config(seed, devices, **config_overrides)
    clock = ScaledClock(home.clock.now(), speed)
    gateway = Gateway(config=config, kafka=kafka, data_dir=tmp_path,
                      scanner_backend=BumbleScanner, client_backend=BumbleClient, clock=clock,
                      token=token)
    await gateway.start()
    return Rig(radio, home, log, gateway, adapter, config, kafka, tmp_path)


async def read_envelopes(kafka: KafkaSettings, gateway_id: str,
                         timeout: float = 10.0) -> list[envelopes.Envelope]:
    """Every envelope of ``gateway_id`` on the raw topic, in partition order."""
    consumer = AIOKafkaConsumer(**kafka.consumer_config(group_id=None))
    await consumer.start()
    out: list[envelopes.Envelope] = []
    try:
        partitions = consumer.partitions_for_topic(kafka.topics.raw_readings) or set()
        tps = [TopicPartition(kafka.topics.raw_readings, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        async def behind() -> bool:
            for tp in tps:
                if await consumer.position(tp) < ends[tp]:
                    return True
            return False

        async with asyncio.timeout(timeout):
            while await behind():
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    for record in records:
                        env = envelopes.decode(record.value)
                        if env.gateway_id == gateway_id:
                            out.append(env)
    finally:
        await consumer.stop()
    return out


def arrived_by_device(envs: list[envelopes.Envelope]) -> dict[str, list[envelopes.Envelope]]:
    by_device: dict[str, list[envelopes.Envelope]] = defaultdict(list)
    for env in envs:
        by_device[env.device_id].append(env)
    return by_device


def unique_batches(envs: list[envelopes.Envelope]) -> list[envelopes.Envelope]:
    """Drop re-sent copies of a batch; a re-send must be byte-for-byte the same batch."""
    seen: dict[str, envelopes.Envelope] = {}
    out = []
    for env in envs:
        if env.batch_id in seen:
            assert seen[env.batch_id] == env, f"batch {env.batch_id} re-sent with other content"
            continue
        seen[env.batch_id] = env
        out.append(env)
    return out


def assert_delivered(config, emissions, envs: list[envelopes.Envelope], *,
                     lossy_window: tuple[datetime, datetime] | None = None) -> None:
    """Every emitted reading arrived exactly once (re-sent batches aside), in order.

    ``lossy_window``: streaming values emitted in this interval may be missing (values
    received but not yet spooled when the gateway was killed cannot be recovered).
    """
    from devices.catalog import DeviceType as T

    by_device = arrived_by_device(unique_batches(envs))
    for device in config.devices:
        device_envs = sorted(by_device[device.id], key=lambda e: e.seq_from)
        readings = [r for e in device_envs for r in e.readings]
        assert len({(r.metric, r.seq) for r in readings}) == len(readings), device.id
        for metric in {e.metric for e in emissions if e.device == device.serial} - {"ecg_samples"}:
            want = [e for e in emissions if e.device == device.serial and e.metric == metric]
            got = [r.value for r in readings if r.metric == metric]
            if device.type in (T.CGM, T.GLUCOSE_METER) and metric == "glucose":
                _assert_same_records(device.id, want, [r for r in readings if r.metric == metric])
                continue
            if lossy_window is None:
                assert _matches_but_in_doubt(want, got), _first_difference(
                    device.id, metric, want, [r for r in readings if r.metric == metric])
                continue
            lo, hi = lossy_window
            must = [e.value for e in want if not lo <= e.time <= hi]
            may = [e.value for e in want]
            assert _is_subsequence(must, got), (device.id, metric)
            assert _is_subsequence(got, may), (device.id, metric)
        if device.type == T.ECG_PATCH and lossy_window is None:
            samples = sum(len(s.samples) for e in device_envs for s in e.segments)
            assert samples == sum(e.value for e in emissions
                                  if e.device == device.serial and e.metric == "ecg_samples")


def _assert_same_records(device_id: str, want: list, got: list) -> None:
    """Stored records (backfilled by RACP) all arrive, whatever the order; otherwise name
    the missing and the unexpected values with the emissions' keys and times."""
    from collections import Counter

    missing = Counter(e.value for e in want) - Counter(r.value for r in got)
    extra = Counter(r.value for r in got) - Counter(e.value for e in want)
    if not missing and not extra:
        return
    lacking = [(e.key, e.time.isoformat()) for e in want if e.value in missing]
    surplus = [(r.record, r.time.isoformat(), r.value, r.backfilled) for r in got
               if r.value in extra]
    raise AssertionError(f"{device_id} glucose: {len(want)} emitted, {len(got)} arrived; "
                         f"missing values {dict(missing)} (emitted as {lacking}); "
                         f"unexpected {surplus}")


def _first_difference(device_id: str, metric: str, want: list, got: list) -> str:
    """Where the arrived values first part from the emitted ones, with times and seqs."""
    i = next((k for k, (e, r) in enumerate(zip(want, got, strict=False)) if e.value != r.value),
             min(len(want), len(got)))
    emitted = [(e.time.isoformat(), e.value) for e in want[max(0, i - 2):i + 3]]
    arrived = [(r.seq, r.time.isoformat(), r.value, r.backfilled) for r in got[max(0, i - 2):i + 3]]
    return (f"{device_id} {metric}: {len(want)} emitted, {len(got)} arrived; first difference "
            f"at {i}: emitted {emitted}, arrived {arrived}")


def _is_subsequence(short: list[float], long: list[float]) -> bool:
    it = iter(long)
    return all(any(x == y for y in it) for x in short)


async def read_statuses(kafka: KafkaSettings, gateway_id: str) -> list[Any]:
    """Every status message of ``gateway_id`` on the status topic."""
    from stream.contract import status as status_codec

    consumer = AIOKafkaConsumer(**kafka.consumer_config(group_id=None))
    await consumer.start()
    out = []
    try:
        partitions = consumer.partitions_for_topic(topics.STATUS) or set()
        tps = [TopicPartition(topics.STATUS, p) for p in partitions]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        async with asyncio.timeout(10):
            while True:
                positions = [await consumer.position(tp) for tp in tps]
                if all(p >= ends[tp] for p, tp in zip(positions, tps, strict=True)):
                    break
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    out += [status_codec.decode(r.value) for r in records
                            if r.key == gateway_id.encode()]
    finally:
        await consumer.stop()
    return out


def _matches_but_in_doubt(want: list[Any], got: list[float]) -> bool:
    """``got`` is ``want``'s values in order, each once, except that a value emitted in
    doubt (in the device's controller as its link dropped, e.g. when the wearables stop:
    ``devices/sim/air_delivery.py``) may be missing. Every surely sent value must be there."""
    j = 0
    for emitted in want:
        if j < len(got) and got[j] == emitted.value:
            j += 1
        elif not emitted.in_doubt:
            return False
    return j == len(got)
