"""Virtual blood-glucose meter: finger sticks on a schedule, stored records with sequence
numbers, measurement + context notifications, RACP backfill by sequence number."""

from __future__ import annotations

from bumble.device import Connection

from devices.catalog import DeviceType
from devices.gatt import glucose, racp
from devices.gatt.ieee11073 import MedFloat
from devices.sim.peripheral import VirtualWearable
from devices.sim.stored_records import RecordStore

DEFAULT_INTERVAL_S = 3 * 3600.0  # a finger stick every three hours


class GlucoseMeter(VirtualWearable):
    device_type = DeviceType.GLUCOSE_METER

    def __init__(self, *, interval_s: float = DEFAULT_INTERVAL_S, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.interval_s = interval_s
        self.sequence = 0
        self.store = RecordStore("glucose", self._send_record, self._send_racp)
        self.features = glucose.GlucoseFeature(
            glucose.GlucoseFeatureBits.LOW_BATTERY_DETECTION
            | glucose.GlucoseFeatureBits.RESULT_HIGH_LOW_DETECTION
            | glucose.GlucoseFeatureBits.TIME_FAULT)

    def read_value(self, uuid: str) -> bytes:
        if uuid == self.uuid(glucose.UUID_FEATURE):
            return bytes(self.features)
        return super().read_value(uuid)

    async def on_write(self, uuid: str, data: bytes, connection: Connection) -> None:
        if uuid == self.uuid(racp.UUID_RACP):
            await self.store.handle(data)

    async def _send_record(self, _key: int, payload: bytes) -> bool:
        return await self.send(self.uuid(glucose.UUID_MEASUREMENT), payload)

    async def _send_racp(self, payload: bytes) -> bool:
        return await self.send(self.uuid(racp.UUID_RACP), payload)

    async def produce(self) -> None:
        t = self.interval_s / 2
        while True:
            await self.clock.sleep_until(t)
            mg_dl = self.physiology.plasma_glucose(t)
            # ISO 15197-grade meter: a few percent of error, whole mg/dL.
            measured = round(mg_dl * (1 + 0.03 * ((self.sequence * 7919) % 13 - 6) / 6))
            base = self.device_clock.read(self.clock, t).replace(tzinfo=None, microsecond=0)
            status = glucose.SensorStatus(0)
            if measured < 20:
                status |= glucose.SensorStatus.RESULT_TOO_LOW
            record = glucose.GlucoseMeasurement(
                self.sequence, base, 0, MedFloat(max(measured, 20), -5),
                glucose.GlucoseUnit.KG_PER_L, int(glucose.SampleType.CAPILLARY_WHOLE_BLOOD), 1,
                status)
            payload = bytes(record)
            self.store.add(self.sequence, payload)
            self.record("glucose", self.sequence, t, float(max(measured, 20)), stored=True)
            await self.send(self.uuid(glucose.UUID_MEASUREMENT), payload)
            await self.send_battery(t, self.sequence)
            self.sequence += 1
            t += self.interval_s
