"""Virtual CGM: a record every 5 minutes keyed by time offset, E2E-CRC, RACP backfill,
sensor warm-up and session restarts from the scenario."""

from __future__ import annotations

import asyncio

from bumble.device import Connection

from devices.catalog import DeviceType
from devices.errors import DecodeError
from devices.gatt import cgm, racp
from devices.gatt.ieee11073 import MedFloat
from devices.sim.peripheral import VirtualWearable
from devices.sim.scenario import EventKind
from devices.sim.stored_records import RecordStore

DEFAULT_INTERVAL_MIN = 5


class CgmSensor(VirtualWearable):
    device_type = DeviceType.CGM

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.interval_min = DEFAULT_INTERVAL_MIN
        self.session_start = 0.0  # simulated second the current session started
        self.session = 0
        self.store = RecordStore("cgm", self._send_record, self._send_racp)
        self.features = cgm.CgmFeature(cgm.CgmFeatureBits.E2E_CRC | cgm.CgmFeatureBits.TREND
                                       | cgm.CgmFeatureBits.LOW_BATTERY_DETECTION)

    def read_value(self, uuid: str) -> bytes:
        if uuid == self.uuid(cgm.UUID_FEATURE):
            return bytes(self.features)
        if uuid == self.uuid(cgm.UUID_SESSION_START_TIME):
            start = self.device_clock.read(self.clock, self.session_start).replace(tzinfo=None)
            return bytes(cgm.SessionStartTime(start, 0, 0, has_crc=True))
        if uuid == self.uuid(cgm.UUID_SESSION_RUN_TIME):
            hours = int((self.clock.t() - self.session_start) // 3600)
            return bytes(cgm.SessionRunTime(hours, has_crc=True))
        if uuid == self.uuid(cgm.UUID_STATUS):
            offset = int((self.clock.t() - self.session_start) // 60)
            return bytes(cgm.CgmStatus(offset, self._annunciation(self.clock.t()), has_crc=True))
        return super().read_value(uuid)

    def _annunciation(self, t: float) -> cgm.Annunciation:
        status = cgm.Annunciation(0)
        if self.battery_level() < 15:
            status |= cgm.Annunciation.DEVICE_BATTERY_LOW
        if self._stopped(t):
            status |= cgm.Annunciation.SESSION_STOPPED
        return status

    def _stopped(self, t: float) -> bool:
        scenario = self.physiology.scenario
        return (scenario.active(EventKind.SENSOR_WARMUP, t, "cgm") is not None
                or scenario.active(EventKind.SESSION_RESTART, t, "cgm") is not None)

    async def on_write(self, uuid: str, data: bytes, connection: Connection) -> None:
        if uuid == self.uuid(racp.UUID_RACP):
            await self.store.handle(data)
        elif uuid == self.uuid(cgm.UUID_SOCP):
            await self._socp(data)

    async def _socp(self, data: bytes) -> None:
        try:
            op = cgm.SpecificOpsControlPoint.from_bytes(data, crc=True)
        except DecodeError:
            code = cgm.SocpResponseCode.INVALID_OPERAND
            request = data[0] if data else 0
        else:
            request = int(op.op)
            code = cgm.SocpResponseCode.SUCCESS
            if op.op == cgm.SocpOp.SET_INTERVAL and op.interval_min:
                self.interval_min = op.interval_min
            elif op.op == cgm.SocpOp.GET_INTERVAL:
                await self.send(self.uuid(cgm.UUID_SOCP), bytes(cgm.SpecificOpsControlPoint(
                    cgm.SocpOp.INTERVAL_RESPONSE, interval_min=self.interval_min, has_crc=True)))
                return
            elif op.op not in (cgm.SocpOp.SET_INTERVAL,):
                code = cgm.SocpResponseCode.OP_CODE_NOT_SUPPORTED
        await self.send(self.uuid(cgm.UUID_SOCP), bytes(cgm.SpecificOpsControlPoint(
            cgm.SocpOp.RESPONSE_CODE, request_op=request, response=code, has_crc=True)))

    async def _send_record(self, _key: int, payload: bytes) -> bool:
        return await self.send(self.uuid(cgm.UUID_MEASUREMENT), payload)

    async def _send_racp(self, payload: bytes) -> bool:
        return await self.send(self.uuid(racp.UUID_RACP), payload)

    def _new_session_start(self, t: float) -> float | None:
        event = self.physiology.scenario.active(EventKind.SESSION_RESTART, t, "cgm")
        return event.end_s if event is not None else None

    async def produce(self) -> None:
        t = self.session_start + 60 * self.interval_min
        battery_at = 0.0
        while True:
            await self.clock.sleep_until(t)
            restart = self._new_session_start(t)
            if restart is not None:  # session stopped; a new one starts at the window end
                if self.session_start < restart:
                    # Starting a session deletes the previous session's records (CGMP).
                    self.session_start = restart
                    self.session += 1
                    self.store.records.clear()
                t = restart + 60 * self.interval_min
                continue
            if not self._stopped(t):
                offset = round((t - self.session_start) / 60)
                value = self.physiology.interstitial_glucose(t)
                trend = (value - self.physiology.interstitial_glucose(t - 300)) / 5
                record = cgm.CgmRecord(MedFloat(round(value), 0), offset,
                                       trend=MedFloat(round(trend * 10), -1), has_crc=True)
                payload = record.encode()
                self.store.add(offset, payload)
                # Stored = emitted: backfill must bring it in even if this notify misses.
                self.record("glucose", self.session * 100_000 + offset, t, float(round(value)),
                            stored=True)
                await self.send(self.uuid(cgm.UUID_MEASUREMENT), payload)
            if t - battery_at >= 600:
                await self.send_battery(t, int(t // 600))
                battery_at = t
            t += 60 * self.interval_min
            await asyncio.sleep(0)
