"""Virtual blood-pressure cuff: a measurement every hour, indicated."""

from __future__ import annotations

import math

from devices.catalog import DeviceType
from devices.gatt import blood_pressure
from devices.gatt.ieee11073 import MedFloat
from devices.sim.peripheral import VirtualWearable

DEFAULT_INTERVAL_S = 3600.0


class BpCuff(VirtualWearable):
    device_type = DeviceType.BP_CUFF

    def __init__(self, *, interval_s: float = DEFAULT_INTERVAL_S, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.interval_s = interval_s

    def read_value(self, uuid: str) -> bytes:
        if uuid == self.uuid(blood_pressure.UUID_FEATURE):
            return bytes(blood_pressure.BloodPressureFeature(0x0004))  # irregular pulse detection
        return super().read_value(uuid)

    async def produce(self) -> None:
        t = self.interval_s / 2
        counter = 0
        while True:
            await self.clock.sleep_until(t)
            hr = self.physiology.heart_rate_at(t)
            hour = self.physiology._hour_of_day(t)
            systolic = round(118 + 8 * math.sin(2 * math.pi * (hour - 10) / 24) + (hr - 65) * 0.3)
            diastolic = round(76 + 5 * math.sin(2 * math.pi * (hour - 10) / 24))
            mean = round(diastolic + (systolic - diastolic) / 3)
            value = blood_pressure.BloodPressureMeasurement(
                MedFloat(systolic, 0), MedFloat(diastolic, 0), MedFloat(mean, 0),
                pulse_rate=MedFloat(round(hr), 0))
            await self.send(self.uuid(blood_pressure.UUID_MEASUREMENT), bytes(value),
                            [(metric, counter, t, float(v)) for metric, v in (
                                ("systolic_bp", systolic), ("diastolic_bp", diastolic),
                                ("mean_arterial_pressure", mean), ("pulse_rate", round(hr)))])
            await self.send_battery(t, counter)
            counter += 1
            t += self.interval_s
