"""Test harness: a virtual home and a gateway (bleak over bumble) on one in-process radio,
uploading to the real broker; plus a reader of what arrived on the raw topic."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition

from devices.catalog import DeviceType
from devices.sim.emission import EmissionLog
from devices.sim.home import HomeConfig, VirtualHome, address_for, serial_for
from devices.sim.radio import VirtualRadio
from gateway.ble.bumble_backend import BumbleAdapter, BumbleClient, BumbleScanner, use_adapter
from gateway.config import DeviceEntry, GatewayConfig
from gateway.runner import Gateway
from gateway.wallclock import ScaledClock
from stream import envelope as envelopes
from stream import topics
from stream.kafka.admin import ensure_topics
from stream.kafka.settings import KafkaSettings

START = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def gateway_config(seed: int, devices: tuple[DeviceType, ...], **overrides: object) -> GatewayConfig:
    entries = [DeviceEntry(id=f"DEV-{serial_for(seed, t)}", type=t,
                           address=address_for(seed, t), serial=serial_for(seed, t))
               for t in devices]
    fields: dict[str, object] = dict(gateway_id=f"GW-{seed:04d}", study="TEST",
                                     subject=f"S-{seed:04d}", devices=entries,
                                     batch_linger_ms=200, status_interval_s=5.0)
    fields.update(overrides)
    return GatewayConfig(**fields)  # type: ignore[arg-type]


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

    def serial_of(self, device_id: str) -> str:
        return device_id.removeprefix("DEV-")


async def start_rig(tmp_path: Path, kafka: KafkaSettings, *, seed: int, scenario: str,
                    speed: float, devices: tuple[DeviceType, ...], **config_overrides: object,
                    ) -> Rig:
    await ensure_topics(kafka, partitions={t.name: 2 for t in topics.TOPICS})
    radio = VirtualRadio()
    log = EmissionLog()

    async def factory(name: str, address: str):
        return radio.device(name, address), radio.controller(address)

    home = VirtualHome(HomeConfig(seed=seed, scenario=scenario, speed=speed, devices=devices,
                                  start=START, glucose_meter_interval_s=60.0,
                                  bp_interval_s=120.0), factory, log)
    await home.start()
    adapter = await BumbleAdapter.on_device(radio.device("gateway", f"F0:00:00:00:{seed % 256:02X}:01"))
    use_adapter(adapter)
    config = gateway_config(seed, devices, **config_overrides)
    clock = ScaledClock(home.clock.now(), speed)
    gateway = Gateway(config=config, kafka=kafka, data_dir=tmp_path,
                      scanner_backend=BumbleScanner, client_backend=BumbleClient, clock=clock)
    await gateway.start()
    return Rig(radio, home, log, gateway, adapter, config, kafka, tmp_path)


async def read_envelopes(kafka: KafkaSettings, gateway_id: str,
                         timeout: float = 10.0) -> list[envelopes.Envelope]:
    """Every envelope of ``gateway_id`` on the raw topic, in partition order."""
    consumer = AIOKafkaConsumer(**kafka.consumer_config(group_id=None))
    await consumer.start()
    out: list[envelopes.Envelope] = []
    try:
        partitions = consumer.partitions_for_topic(topics.RAW_READINGS) or set()
        tps = [TopicPartition(topics.RAW_READINGS, p) for p in partitions]
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
