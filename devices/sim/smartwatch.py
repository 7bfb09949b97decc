"""Virtual smartwatch: HR and PLX continuous every second, temperature each minute
(indicated), battery each minute."""

from __future__ import annotations

import math

from devices.catalog import DeviceType
from devices.gatt import heart_rate, pulse_oximeter, thermometer
from devices.gatt.ieee11073 import MedFloat
from devices.sim.peripheral import VirtualWearable


class Smartwatch(VirtualWearable):
    device_type = DeviceType.SMARTWATCH

    def read_value(self, uuid: str) -> bytes:
        if uuid == self.uuid(heart_rate.UUID_BODY_SENSOR_LOCATION):
            return bytes(heart_rate.BodySensorLocationValue(heart_rate.BodySensorLocation.WRIST))
        if uuid == self.uuid(pulse_oximeter.UUID_FEATURES):
            return bytes(pulse_oximeter.PlxFeatures(0x0000))
        if uuid == self.uuid(thermometer.UUID_TYPE):
            return bytes(thermometer.TemperatureType(4))  # finger/wrist skin-adjusted
        return super().read_value(uuid)

    async def produce(self) -> None:
        t = math.ceil(self.clock.t())
        counter = 0
        while True:
            await self.clock.sleep_until(t)
            rate = round(self.physiology.heart_rate_at(t, window=8))
            await self.send(self.uuid(heart_rate.UUID_MEASUREMENT),
                            bytes(heart_rate.HeartRateMeasurement(rate)),
                            [("heart_rate", counter, t, float(rate))])
            spo2 = round(self.physiology.spo2(t))
            pulse = round(self.physiology.heart_rate_at(t, window=8))
            await self.send(self.uuid(pulse_oximeter.UUID_CONTINUOUS),
                            bytes(pulse_oximeter.PlxContinuous(MedFloat(spo2, 0),
                                                               MedFloat(pulse, 0))),
                            [("spo2", counter, t, float(spo2)),
                             ("pulse_rate", counter, t, float(pulse))])
            if counter % 60 == 0:
                celsius = round(self.physiology.temperature(t), 1)
                value = thermometer.TemperatureMeasurement(MedFloat(round(celsius * 10), -1))
                await self.send(self.uuid(thermometer.UUID_MEASUREMENT), bytes(value),
                                [("body_temperature", counter // 60, t, celsius)])
                await self.send_battery(t, counter // 60)
            counter += 1
            t += 1
