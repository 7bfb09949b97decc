"""Virtual ECG patch (Polar-H10-like): PMD raw ECG at 130 Hz on request, HRS every second."""

from __future__ import annotations

import asyncio
import math

import numpy as np
from bumble.device import Connection

from devices.catalog import DeviceType
from devices.errors import DecodeError
from devices.gatt import heart_rate, polar_pmd
from devices.sim.peripheral import VirtualWearable

ECG_RATE_HZ = 130
MAX_SAMPLES_PER_FRAME = 73  # what fits a 232-byte PMD frame; fewer with a small MTU


class EcgPatch(VirtualWearable):
    device_type = DeviceType.ECG_PATCH

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.ecg_start: float | None = None  # simulated second of sample 0
        self._ecg_task: asyncio.Task[None] | None = None
        self._hr_counter = 0
        self._beats_sent = 0.0  # R-peak time up to which RR intervals were sent

    def read_value(self, uuid: str) -> bytes:
        if uuid == polar_pmd.UUID_CONTROL_POINT:
            return bytes(polar_pmd.PmdFeatures(b"\x01\x00"))  # ECG supported
        if uuid == self.uuid(heart_rate.UUID_BODY_SENSOR_LOCATION):
            return bytes(heart_rate.BodySensorLocationValue(heart_rate.BodySensorLocation.CHEST))
        return super().read_value(uuid)

    async def on_write(self, uuid: str, data: bytes, connection: Connection) -> None:
        if uuid != polar_pmd.UUID_CONTROL_POINT:
            return
        try:
            command = polar_pmd.PmdCommand.from_bytes(data)
        except DecodeError:
            op = data[0] if data else 0
            await self._respond(op, polar_pmd.MeasurementType.ECG, polar_pmd.PmdStatus.INVALID_LENGTH)
            return
        if command.measurement != polar_pmd.MeasurementType.ECG:
            await self._respond(command.op, command.measurement, polar_pmd.PmdStatus.NOT_SUPPORTED)
        elif command.op == polar_pmd.PmdOp.START:
            rate = (command.settings or {}).get(polar_pmd.SettingType.SAMPLE_RATE, (ECG_RATE_HZ,))
            if rate != (ECG_RATE_HZ,):
                await self._respond(command.op, command.measurement,
                                    polar_pmd.PmdStatus.INVALID_SAMPLE_RATE)
                return
            status = (polar_pmd.PmdStatus.ALREADY_IN_STATE if self._ecg_task
                      else polar_pmd.PmdStatus.SUCCESS)
            await self._respond(command.op, command.measurement, status)
            if self._ecg_task is None:
                self._ecg_task = asyncio.create_task(self._stream_ecg())
                self._tasks.append(self._ecg_task)
        elif command.op == polar_pmd.PmdOp.STOP:
            self._stop_ecg()
            await self._respond(command.op, command.measurement, polar_pmd.PmdStatus.SUCCESS)
        elif command.op == polar_pmd.PmdOp.GET_SETTINGS:
            settings: dict[polar_pmd.SettingType, tuple[int | float | bytes, ...]] = {
                        polar_pmd.SettingType.SAMPLE_RATE: (ECG_RATE_HZ,),
                        polar_pmd.SettingType.RESOLUTION: (14,)}
            await self.send(polar_pmd.UUID_CONTROL_POINT, bytes(polar_pmd.PmdResponse(
                command.op, command.measurement, polar_pmd.PmdStatus.SUCCESS, False, settings)))
        else:
            await self._respond(command.op, command.measurement, polar_pmd.PmdStatus.NOT_SUPPORTED)

    async def _respond(self, op: int, measurement: polar_pmd.MeasurementType,
                       status: polar_pmd.PmdStatus) -> None:
        await self.send(polar_pmd.UUID_CONTROL_POINT,
                        bytes(polar_pmd.PmdResponse(op, measurement, status)))

    def _stop_ecg(self) -> None:
        if self._ecg_task is not None:
            self._ecg_task.cancel()
            self._ecg_task = None
        self.ecg_start = None

    async def go_out_of_range(self) -> None:
        self._stop_ecg()  # a real H10 stops streaming when the link drops
        await super().go_out_of_range()

    def _frame_size(self) -> int:
        mtu = min((c.att_mtu for c in self.device.connections.values()), default=23)
        return max(1, min(MAX_SAMPLES_PER_FRAME, (mtu - 3 - 10) // 3))

    async def _stream_ecg(self) -> None:
        self.ecg_start = start = self.clock.t()
        index = 0
        while True:
            if not self.connected():
                # A real H10 stops streaming when its link drops; streaming on would also
                # spin, as frames shrink to the default 23-byte MTU's 3 samples.
                self._ecg_task = None
                self.ecg_start = None
                return
            count = self._frame_size()
            times = start + (index + np.arange(count)) / ECG_RATE_HZ
            await self.clock.sleep_until(float(times[-1]))
            samples = np.clip(np.round(self.physiology.ecg_uv(times)), -(1 << 23), (1 << 23) - 1)
            stamp = self.device_clock.read(self.clock, float(times[-1])).replace(tzinfo=None)
            ns = round((stamp - polar_pmd.POLAR_EPOCH).total_seconds() * 1e9)
            frame = polar_pmd.EcgFrame(ns, tuple(int(s) for s in samples))
            await self.send(polar_pmd.UUID_DATA, bytes(frame),
                            [("ecg_samples", index, float(times[0]), float(count))])
            index += count

    async def produce(self) -> None:
        t = math.ceil(self.clock.t())
        self._beats_sent = float(t)
        while True:
            await self.clock.sleep_until(t)
            rr = self.physiology.rr_intervals_ending(self._beats_sent, t)
            rate = round(self.physiology.heart_rate_at(t))
            raw_rr = tuple(min(0xFFFF, round(v * 1024)) for _, v in rr)[:9]
            payload = bytes(heart_rate.HeartRateMeasurement(
                rate, heart_rate.SensorContact.DETECTED, None, raw_rr))
            emits = [("heart_rate", self._hr_counter, float(t), float(rate))]
            emits += [("rr_interval", round(beat_time * 1000), beat_time,
                       min(0xFFFF, round(value * 1024)) * 1000 / 1024)
                      for beat_time, value in rr[:9]]
            await self.send(self.uuid(heart_rate.UUID_MEASUREMENT), payload, emits)
            self._beats_sent = float(t)
            self._hr_counter += 1
            if t % 60 == 0:
                await self.send_battery(t, t // 60)
            t += 1
