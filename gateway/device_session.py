"""One configured device: connect, read features, subscribe, backfill, stamp, spool —
again after every disconnect, for as long as the gateway runs.

Notifications are only queued by the bleak callback; one task per connection processes
them in order (so a RACP response is handled after the records it closes, and a CGM
session change can re-read the session start time). Malformed payloads are counted by
reason in status and never stop capture.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import stamina
from bleak import BleakClient, BleakScanner
from bleak.exc import BleakError

from devices.catalog import DeviceType, Procedure, spec
from devices.errors import DecodeError
from devices.gatt import battery, cgm, device_information, glucose, polar_pmd, racp
from devices.gatt.registry import DecodeContext, Decoded, decode, full_uuid
from devices.model import Quality
from gateway import retry_policy
from gateway.clock import ClockEstimator
from gateway.connection import connect_with_retry
from gateway.errors import ConnectError, DeviceBusyError, DeviceIdentityError
from gateway.spool import PendingItem
from gateway.spool_writer import SpoolWriter
from gateway.wallclock import Clock
from stream.contract.envelope import WireReading, WireSegment
from stream.contract.gateway_config import DeviceEntry, GatewayConfig
from stream.contract.status import DeviceStatus

logger = logging.getLogger(__name__)

T = TypeVar("T")
RACP_INACTIVITY_S = 30.0  # GLP 4.7.5: a procedure fails after 30 s without data
RACP_BUSY_ATTEMPTS = 6  # "server busy" answers before the backfill waits for the next session
SCAN_TIMEOUT_S = 10.0
DRAIN_TIMEOUT_S = 5.0  # spooling what was queued when a session ends
QUIESCE_TIMEOUT_S = 2.0  # per subscription, switching notifications off on a stop
_CGM_MEASUREMENT = full_uuid(cgm.UUID_MEASUREMENT)
_GLUCOSE_MEASUREMENT = full_uuid(glucose.UUID_MEASUREMENT)
_RACP = full_uuid(racp.UUID_RACP)
_SST = full_uuid(cgm.UUID_SESSION_START_TIME)
_RECORD_CHARS = {_CGM_MEASUREMENT, _GLUCOSE_MEASUREMENT}
# Subscribed where the device notifies it, else read every battery_read_interval_s (the
# Notify property of Battery Level is optional, BAS 1.0 §3.1).
_POLLABLE = {full_uuid(battery.UUID_LEVEL)}


@dataclass(frozen=True, slots=True)
class _Notification:
    uuid: str
    data: bytes
    received_at: datetime  # gateway clock (may be scaled in simulations)
    received_wall: float  # time.time(), for latency figures


def _notifies(client: BleakClient, uuid: str) -> bool:
    """Whether the peer's characteristic can notify or indicate (as discovered)."""
    char = client.services.get_characteristic(uuid)
    return char is None or bool({"notify", "indicate"} & set(char.properties))


def _collect(task: asyncio.Future[Any]) -> None:
    """Retrieve an abandoned task's exception (it is of no further interest)."""
    if not task.cancelled():
        task.exception()


class DeviceSession:
    def __init__(self, *, entry: DeviceEntry, config: GatewayConfig, writer: SpoolWriter,
                 status: DeviceStatus, clock: Clock, scanner_backend: type | None,
                 client_backend: type | None, racp_cursor: str | None = None) -> None:
        self.entry = entry
        self.config = config
        self.spec = spec(entry.type)
        self.writer = writer
        self.status = status
        self.clock = clock
        self.scanner_backend = scanner_backend
        self.client_backend = client_backend
        self.estimator = ClockEstimator()
        self.context = DecodeContext(service=self.spec.racp_service)
        self.cursor = racp_cursor  # durable RACP position, see _cursor_after
        self._queue: asyncio.Queue[_Notification] = asyncio.Queue()
        self._disconnected = asyncio.Event()
        self._stopping = asyncio.Event()
        self._last_value = time.monotonic()
        self._racp_done: asyncio.Future[racp.RacpResponse] | None = None
        self._racp_activity = time.monotonic()
        self._in_backfill = False
        self._unconfirmed_records: list[int] | None = None  # see _hold_cursor
        self._hold_cursor()
        self._session_start: datetime | None = None  # CGM SST on the device clock
        self._last_cgm_offset = -1
        self._client: BleakClient | None = None
        self._polled: list[str] = []  # characteristics read on a timer, see _setup
        self._next_poll = 0.0
        rates = [r for r in self.spec.expected_per_hour.values() if r > 0]
        self.availability_s = (max(config.availability_timeout_s, 3 * 3600 / max(rates))
                               if rates else None)

    # -- lifecycle ----------------------------------------------------------------------

    def stop(self) -> None:
        """Ask :meth:`run` to end; it returns at its next step (scans and connects included)."""
        self._stopping.set()

    async def _unless_stopping(self, aw: Awaitable[T]) -> T:
        """Await ``aw``, but give up (cancel it) as soon as :meth:`stop` is called.

        Cancelling the session task alone is not enough: bleak's scan helpers run under
        ``asyncio.timeout``, which can swallow a cancel that lands as the timeout expires.
        """
        task = asyncio.ensure_future(aw)
        stopper = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            # This task was cancelled (the gateway is shutting down): take ``aw`` down too
            # and collect its outcome, or asyncio reports "exception never retrieved".
            task.cancel()
            task.add_done_callback(_collect)
            raise
        finally:
            stopper.cancel()
        if self._stopping.is_set():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 5)  # also retrieves a late exception
            raise _Stopping
        return task.result()

    async def run(self) -> None:
        try:
            await self._run()
        except _Stopping:
            return

    async def _run(self) -> None:
        failures = 0  # in a row: connects that failed, or sessions whose set-up failed
        while not self._stopping.is_set():
            if failures:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(),
                                           retry_policy.RECONNECT.delay_s(failures))
                if self._stopping.is_set():
                    return
            try:
                client = await self._unless_stopping(self._connect())
            except ConnectError as exc:
                self.status.last_error = str(exc)
                failures += 1
                continue
            failures += 1  # until the set-up has worked: a link alone proves little
            self._hold_cursor()
            worker = asyncio.create_task(self._process(), name=f"{self.entry.id} process")
            try:
                await self._unless_stopping(self._setup(client))
                failures = 0
                await self._unless_stopping(self._watch())
            except (BleakError, TimeoutError, OSError, DeviceIdentityError) as exc:
                self.status.last_error = f"{type(exc).__name__}: {exc}"
                logger.warning("%s: session ended: %s", self.entry.id, exc)
            except _Stopping:
                raise
            except Exception as exc:
                # A backend error of a kind nobody foresaw must not end this device's
                # capture for good: count it, log it, and connect again.
                self.status.last_error = f"{type(exc).__name__}: {exc}"
                logger.exception("%s: session failed unexpectedly", self.entry.id)
            finally:
                if self._stopping.is_set():
                    await self._quiesce(client)
                # Disconnect, then spool what is queued: a value the device sent while we
                # were stopping arrives until the link is down, and must not be left in
                # the queue (a handler needing the dead link fails fast).
                with contextlib.suppress(BleakError, TimeoutError, OSError):
                    await asyncio.wait_for(client.disconnect(), 5)
                self._client = None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._queue.join(), DRAIN_TIMEOUT_S)
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
                self.status.connected = False
                self.status.available = False
                self.status.reconnects += 1

    def _hold_cursor(self) -> None:
        """A new session of a device with a record store: until its backfill has ended,
        the record keys seen (live or backfilled) are held in ``_unconfirmed_records``
        instead of moving the durable cursor. A live record arriving first would make
        the backfill, or a restarted gateway, skip the records stored while nobody was
        connected. None: the cursor moves with each record."""
        self._unconfirmed_records = [] if Procedure.RACP_BACKFILL in self.spec.procedures \
            else None

    async def _quiesce(self, client: BleakClient) -> None:
        """On a stop: switch the device's notifications off before the link goes.

        A notify-only value is never sent twice, and one the device sends while the link
        is being closed is lost; once the CCCD write is acknowledged the device has
        stopped, and everything it sent before has arrived (ATT keeps order).
        """
        if not client.is_connected:
            return
        for char in self.spec.subscriptions:
            with contextlib.suppress(BleakError, TimeoutError, OSError, ValueError):
                await asyncio.wait_for(client.stop_notify(char.uuid), QUIESCE_TIMEOUT_S)

    async def _connect(self) -> BleakClient:
        device = await BleakScanner.find_device_by_address(
            self.entry.address, timeout=SCAN_TIMEOUT_S,
            backend=self.scanner_backend)  # type: ignore[arg-type]  # None: bleak's default
        if device is None:
            raise ConnectError(f"{self.entry.id}: {self.entry.address} is not advertising")
        self._disconnected.clear()
        client = await connect_with_retry(
            device, name=self.entry.id, backend=self.client_backend,
            attempts=self.config.connect_attempts,
            pair=Procedure.BOND in self.spec.procedures,
            disconnected_callback=lambda _c: self._disconnected.set())
        self._client = client
        self.status.connected = True
        self.status.last_error = None
        return client

    async def _setup(self, client: BleakClient) -> None:
        self._polled = [c.uuid for c in self.spec.subscriptions
                        if c.uuid in _POLLABLE and not _notifies(client, c.uuid)]
        for char in self.spec.reads:
            data = bytes(await client.read_gatt_char(char.uuid))
            self._on_read(char.uuid, data)
            if char.uuid in self._polled:
                self._queue_read(char.uuid, data)
        self._next_poll = time.monotonic() + self.config.battery_read_interval_s
        for char in self.spec.subscriptions:
            if char.uuid not in self._polled:
                await client.start_notify(char.uuid, self._callback(char.uuid))
        self._last_value = time.monotonic()
        if Procedure.PMD_START in self.spec.procedures:
            await client.write_gatt_char(polar_pmd.UUID_CONTROL_POINT,
                                         bytes(polar_pmd.start_ecg()), response=True)
        if Procedure.RACP_BACKFILL in self.spec.procedures:
            await self._backfill(client)

    async def _watch(self) -> None:
        """Until the link drops, or no data arrives within the availability timeout;
        values the device does not notify are read when due."""
        while not self._disconnected.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._disconnected.wait(), 1.0)
            if self._polled and time.monotonic() >= self._next_poll and self._client:
                self._next_poll = time.monotonic() + self.config.battery_read_interval_s
                for uuid in self._polled:
                    self._queue_read(uuid, bytes(await self._client.read_gatt_char(uuid)))
            if self.availability_s is None:
                self.status.available = self.status.connected
                continue
            silent = time.monotonic() - self._last_value
            self.status.available = silent < self.availability_s
            if not self.status.available:
                logger.warning("%s: no data for %.0f s; dropping the stale connection",
                               self.entry.id, silent)
                return

    # -- reads and notifications --------------------------------------------------------

    def _on_read(self, uuid: str, data: bytes) -> None:
        is_serial = uuid == full_uuid(device_information.UUID_SERIAL_NUMBER)
        try:
            decoded = decode(uuid, data, self.context)
        except DecodeError as exc:
            self._count_malformed(exc)
            if is_serial and self.entry.serial:
                # An unreadable serial proves nothing: refuse rather than ingest a device
                # that may not be the enrolled one.
                raise DeviceIdentityError(f"{self.entry.id}: serial number unreadable ({exc}); "
                                          "refusing to ingest") from exc
            return
        value = decoded.value
        if isinstance(value, cgm.CgmFeature):
            self.context = DecodeContext(e2e_crc_supported=value.e2e_crc,
                                         service=self.context.service,
                                         session_start=self.context.session_start)
        elif isinstance(value, cgm.SessionStartTime):
            self._set_session_start(value.start)
        elif isinstance(value, device_information.DisString) and is_serial and \
                self.entry.serial and value.text != self.entry.serial:
            raise DeviceIdentityError(f"{self.entry.id}: serial {value.text!r} is not the "
                                      f"enrolled {self.entry.serial!r}; refusing to ingest")
        for reading in decoded.readings:
            if reading.metric == "battery_level":
                self.status.battery = reading.value

    def _set_session_start(self, start: datetime | None) -> None:
        self._session_start = start
        self._last_cgm_offset = -1
        self.context = DecodeContext(e2e_crc_supported=self.context.e2e_crc_supported,
                                     service=self.context.service, session_start=start)

    def _queue_read(self, uuid: str, data: bytes) -> None:
        """A polled value is handled (stamped, spooled) as a notification would be."""
        self._queue.put_nowait(_Notification(uuid, data, self.clock.now(), time.time()))

    def _callback(self, uuid: str) -> Callable[[object, bytearray], None]:
        def on_notify(_sender: object, data: bytearray) -> None:
            self._last_value = time.monotonic()
            self._queue.put_nowait(_Notification(uuid, bytes(data), self.clock.now(),
                                                 time.time()))
        return on_notify

    async def _process(self) -> None:
        while True:
            note = await self._queue.get()
            try:
                await self._handle(note)
            except Exception:  # one bad value must not stop capture
                logger.exception("%s: failed to handle a notification", self.entry.id)
            finally:
                self._queue.task_done()

    def _count_malformed(self, exc: DecodeError) -> None:
        malformed = defaultdict(int, self.status.malformed)
        malformed[exc.reason] += 1
        self.status.malformed = dict(malformed)
        logger.warning("%s: malformed value (%s): %s", self.entry.id, exc.reason, exc)

    async def _handle(self, note: _Notification) -> None:
        if note.uuid == _CGM_MEASUREMENT and self._session_changed(note.data):
            await self._reread_session_start()
        try:
            decoded = decode(note.uuid, note.data, self.context)
        except DecodeError as exc:
            self._count_malformed(exc)
            return
        value = decoded.value
        if note.uuid == _RACP:
            if isinstance(value, racp.RacpResponse) and self._racp_done is not None \
                    and not self._racp_done.done():
                self._racp_done.set_result(value)
            return
        if isinstance(value, polar_pmd.PmdResponse):
            if value.status not in (polar_pmd.PmdStatus.SUCCESS,
                                    polar_pmd.PmdStatus.ALREADY_IN_STATE):
                self.status.last_error = f"PMD {value.op}: {value.status.name.lower()}"
            return
        self._stamp_and_spool(note, decoded)

    def _session_changed(self, data: bytes) -> bool:
        """A CGM time offset going backwards means a new session: SST must be re-read."""
        if len(data) < 6:
            return False
        offset = int.from_bytes(data[4:6], "little")
        changed = offset < self._last_cgm_offset
        self._last_cgm_offset = max(self._last_cgm_offset, offset) if not changed else offset
        return changed

    async def _reread_session_start(self) -> None:
        if self._client is None:
            return
        data = bytes(await self._client.read_gatt_char(_SST))
        self._on_read(_SST, data)

    # -- stamping -----------------------------------------------------------------------

    def _stamp_and_spool(self, note: _Notification, decoded: Decoded) -> None:
        now = note.received_at
        is_record = note.uuid in _RECORD_CHARS
        backfill = is_record and self._in_backfill
        if is_record:
            self._racp_activity = time.monotonic()
        items: list[PendingItem] = []
        records: list[int] = []
        for r in decoded.readings:
            quality = r.quality | (Quality.BACKFILLED if backfill else 0)
            if r.device_time is not None:
                if not backfill:
                    self.estimator.observe(r.device_time, now)
                if not self.estimator.known:
                    quality |= Quality.CLOCK_UNCERTAIN
                when = self.estimator.to_utc(r.device_time, UTC)
            else:
                when = now + timedelta(milliseconds=r.offset_ms)
            record_key = None
            if is_record and r.record is not None:
                records.append(r.record)
                record_key = (_minute(r.device_time) if self.entry.type == DeviceType.CGM
                              and r.device_time is not None else r.record)
            if r.metric == "battery_level":
                self.status.battery = r.value
            items.append(PendingItem(self.entry.id, WireReading(
                seq=0, metric=r.metric, value=r.value, unit=r.unit, time=when,
                received_at=now, quality=int(quality), backfilled=backfill,
                specimen=r.specimen, record=r.record), record_key=record_key,
                received_wall=note.received_wall))
        for s in decoded.segments:
            if s.device_time is not None:
                last = s.device_time + timedelta(seconds=(len(s.samples) - 1) / s.sampling_rate_hz)
                self.estimator.observe(last, now)
                when = self.estimator.to_utc(s.device_time, UTC)
            else:
                when = now - timedelta(seconds=(len(s.samples) - 1) / s.sampling_rate_hz)
            items.append(PendingItem(self.entry.id, segment=WireSegment(
                seq=0, lead=s.lead, time=when, sampling_rate_hz=s.sampling_rate_hz,
                samples=s.samples, received_at=now, unit=s.unit),
                received_wall=note.received_wall))
        if not items:
            return
        self.status.readings += len(items)
        self.status.last_reading_at = now
        self.status.clock_offset_ms = (round(self.estimator.offset_s * 1000, 1)
                                       if self.estimator.known else None)
        self.status.clock_drift_ppm = round(self.estimator.drift_ppm, 1)
        cursor = None
        if records and self._unconfirmed_records is not None:
            self._unconfirmed_records += records
        elif records:
            cursor = self._cursor_after(records)
        self.writer.put(items, (self.entry.id, cursor) if cursor else None)

    # -- RACP backfill ------------------------------------------------------------------

    def _cursor_after(self, records: list[int]) -> str | None:
        """Durable RACP position: GLS ``<seq>``; CGM ``<session start>|<offset>``."""
        newest = max(records)
        if self.entry.type == DeviceType.CGM:
            session = self._session_start.isoformat() if self._session_start else "?"
            previous = _parse_cgm_cursor(self.cursor)
            if previous and previous[0] == session and previous[1] >= newest:
                return None
            self.cursor = f"{session}|{newest}"
        else:
            if self.cursor is not None and int(self.cursor) >= newest:
                return None
            self.cursor = str(newest)
        return self.cursor

    def _backfill_request(self) -> racp.RacpRequest:
        if self.entry.type == DeviceType.CGM:
            previous = _parse_cgm_cursor(self.cursor)
            session = self._session_start.isoformat() if self._session_start else "?"
            if previous and previous[0] == session:
                return racp.report_from(previous[1] + 1)
        elif self.cursor is not None:
            return racp.report_from(int(self.cursor) + 1)
        return racp.RacpRequest(racp.OpCode.REPORT_STORED_RECORDS, racp.Operator.ALL)

    async def _backfill(self, client: BleakClient) -> None:
        try:
            # Busy: the device is still serving a request of ours whose link is gone (a
            # restarted gateway comes back faster than the device notices); ask again.
            async for attempt in stamina.retry_context(
                    on=DeviceBusyError, attempts=RACP_BUSY_ATTEMPTS,
                    **retry_policy.DEVICE_BUSY.stamina_kwargs()):
                with attempt:
                    response = await self._report_stored_records(client)
                    if response is not None and response.response == racp.ResponseCode.SERVER_BUSY:
                        raise DeviceBusyError(f"{self.entry.id}: RACP server busy")
        except DeviceBusyError:
            self.status.last_error = "RACP: server busy"
            logger.info("%s: backfill busy after %d attempts; the next session asks again",
                        self.entry.id, RACP_BUSY_ATTEMPTS)
            return
        if response is None:
            return  # the link dropped: the next session asks again
        if response.response in (racp.ResponseCode.SUCCESS, racp.ResponseCode.NO_RECORDS_FOUND):
            # Everything from the cursor on is spooled (the response came after its
            # records, and the cursor is put after them): it may move now.
            records, self._unconfirmed_records = self._unconfirmed_records or [], None
            cursor = self._cursor_after(records) if records else None
            if cursor:
                self.writer.put([], (self.entry.id, cursor))
        else:
            self.status.last_error = f"RACP: {response.response}"
        logger.info("%s: backfill %s", self.entry.id,
                    response.response.name.lower() if response.response else "?")

    async def _report_stored_records(self, client: BleakClient) -> racp.RacpResponse | None:
        """One "report stored records" from the durable cursor on; the device's response,
        or None if the link dropped first."""
        request = self._backfill_request()
        self._racp_done = asyncio.get_running_loop().create_future()
        self._in_backfill = True
        self._racp_activity = time.monotonic()
        try:
            await client.write_gatt_char(_RACP, bytes(request), response=True)
            while True:
                try:
                    # The response is handled in queue order: every record before it is
                    # spooled by then.
                    return await asyncio.wait_for(asyncio.shield(self._racp_done), 1.0)
                except TimeoutError:
                    if time.monotonic() - self._racp_activity > RACP_INACTIVITY_S:
                        raise TimeoutError("RACP transfer stalled for 30 s") from None
                    if self._disconnected.is_set():
                        return None
        finally:
            self._in_backfill = False
            self._racp_done = None


class _Stopping(Exception):
    """Raised inside a session when the gateway is stopping."""


def _minute(device_time: datetime) -> int:
    """Minutes since the epoch on the device clock: a CGM record key unique across sessions."""
    return int(device_time.replace(tzinfo=UTC).timestamp() // 60)


def _parse_cgm_cursor(cursor: str | None) -> tuple[str, int] | None:
    if not cursor or "|" not in cursor:
        return None
    session, offset = cursor.rsplit("|", 1)
    try:
        return session, int(offset)
    except ValueError:
        return None
