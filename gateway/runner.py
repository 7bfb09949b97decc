"""The gateway daemon: one session per configured device, the spool writer, the uploader,
the watermark follower, status telemetry and the unknown-device watch, run together."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from gateway.credentials import TokenRotation
from gateway.device_session import DeviceSession
from gateway.errors import ConfigError, UploadRefused
from gateway.http_transport import HttpTransport, check_url
from gateway.kafka_transport import KafkaTransport, StallReport
from gateway.retry_policy import UPLOAD_TRANSIENT
from gateway.scanner import UnknownDeviceWatch
from gateway.spool import Spool
from gateway.spool_writer import SpoolWriter
from gateway.transport import Transport
from gateway.uploader import Uploader
from gateway.wallclock import Clock, SystemClock
from stream.contract import status as status_codec
from stream.contract.envelope import ClockEstimate
from stream.contract.gateway_config import GatewayConfig
from stream.contract.status import DeviceStatus, GatewayStatus, SpoolStatus, UploadStatus
from stream.kafka.settings import KafkaSettings

logger = logging.getLogger(__name__)

TOKEN_CHECK_S = 600.0  # how often the token's age is looked at (gateway/credentials.py)

STATUS_NOT_SENT: tuple[type[Exception], ...] = (*UPLOAD_TRANSIENT, UploadRefused)


def spool_path(config: GatewayConfig, data_dir: Path) -> Path:
    return Path(config.spool_path) if config.spool_path else \
        data_dir / f"gateway-{config.gateway_id}" / "spool.sqlite"


def check_upload_settings(config: GatewayConfig, kafka: KafkaSettings | None,
                          token: str | None) -> None:
    """Raise ConfigError unless the transport ``config.upload`` names has what it needs:
    the platform URL (https, or http to loopback) and the token, or the Kafka settings."""
    if config.upload == "ingest":
        if not config.api_url or token is None:
            raise ConfigError("upload: ingest needs api_url and api_token_file in the "
                              "gateway config (`trialwire gateway enroll` writes both)")
        check_url(config.api_url, allow_plain_http=config.allow_plain_http)
    elif kafka is None:
        raise ConfigError("upload: kafka needs the Kafka settings (TRIALWIRE_KAFKA_*)")


def make_transport(config: GatewayConfig, kafka: KafkaSettings | None, token: str | None, *,
                   on_stall: StallReport | None = None) -> Transport:
    """The transport ``config.upload`` names: the ingest service (HTTPS, the token) or
    Kafka (the settings)."""
    check_upload_settings(config, kafka, token)
    if config.upload == "ingest":
        assert token is not None  # checked above
        return HttpTransport(config=config, token=token)
    assert kafka is not None  # checked above
    return KafkaTransport(config=config, kafka=kafka, on_stall=on_stall)


class Gateway:
    def __init__(self, *, config: GatewayConfig, kafka: KafkaSettings | None, data_dir: Path,
                 scanner_backend: type | None = None, client_backend: type | None = None,
                 clock: Clock | None = None, token: str | None = None) -> None:
        self.config = config
        self.kafka = kafka
        self.clock = clock or SystemClock()
        self.spool = Spool(spool_path(config, data_dir),
                           budget_bytes=int(config.spool_budget_mb * 1024 * 1024))
        self.status_file = spool_path(config, data_dir).with_name("status.json")
        # Written when the platform says the subject no longer collects; kept across restarts.
        self.stopped_file = spool_path(config, data_dir).with_name("collection_stopped.txt")
        self.collection_stopped: str | None = (self.stopped_file.read_text()
                                               if self.stopped_file.exists() else None)
        self.writer = SpoolWriter(self.spool)
        self.writer.closed = self.collection_stopped is not None
        self.upload_status = UploadStatus()
        self.device_status = {d.id: DeviceStatus(device_id=d.id, device_type=d.type.value)
                              for d in config.devices}
        self.sessions = [
            DeviceSession(entry=d, config=config, writer=self.writer,
                          status=self.device_status[d.id], clock=self.clock,
                          scanner_backend=scanner_backend, client_backend=client_backend,
                          racp_cursor=self.spool.racp_cursor(d.id))
            for d in config.devices
        ]
        self.clock_estimates: dict[str, ClockEstimate] = {}
        self.transport = make_transport(config, kafka, token,
                                        on_stall=lambda s: self.uploader.report_stall(s))
        self.uploader = Uploader(config=config, spool=self.spool, transport=self.transport,
                                 status=self.upload_status, clock=self.clock,
                                 clock_estimates=self.clock_estimates,
                                 on_collection_stopped=self.stop_collection)
        self.unknown = UnknownDeviceWatch({d.address for d in config.devices}, scanner_backend)
        self._tasks: list[asyncio.Task[None]] = []

    def status(self) -> GatewayStatus:
        depth = self.spool.depth()
        self.upload_status.ack_latency_ms = self.uploader.latency_summary()
        for session in self.sessions:
            if session.estimator.known:
                self.clock_estimates[session.entry.id] = ClockEstimate(
                    offset_ms=round(session.estimator.offset_s * 1000, 3),
                    drift_ppm=round(session.estimator.drift_ppm, 2),
                    samples=session.estimator.samples)
        return GatewayStatus(
            gateway_id=self.config.gateway_id, subject=self.config.subject, at=self.clock.now(),
            devices=list(self.device_status.values()),
            spool=SpoolStatus(items=depth.items, unbatched=depth.unbatched,
                              batches_unacknowledged=depth.batches_built,
                              batches_unpersisted=depth.batches_sent,
                              used_bytes=depth.used_bytes, budget_bytes=depth.budget_bytes,
                              dropped=depth.dropped, duplicate_records=depth.duplicates),
            upload=self.upload_status, unknown_devices=sorted(self.unknown.unknown))

    async def _publish_status(self) -> None:
        last_shape: tuple[object, ...] | None = None
        next_at = 0.0
        loop = asyncio.get_running_loop()
        while True:
            # Cheap check each second; the full status (spool queries) only when it is sent.
            shape = (*((d.connected, d.available) for d in self.device_status.values()),
                     self.upload_status.broker_reachable, len(self.unknown.unknown))
            if shape != last_shape or loop.time() >= next_at:
                current = await asyncio.to_thread(self.status)
                await asyncio.to_thread(self._write_status_file, current)
                try:
                    stopped = await self.transport.publish_status(current)
                    if stopped is not None:
                        self.stop_collection(stopped)
                    last_shape = shape
                    next_at = loop.time() + self.config.status_interval_s
                except STATUS_NOT_SENT as exc:
                    logger.debug("status not sent: %s", exc)
            await asyncio.sleep(1.0)

    def _write_status_file(self, current: GatewayStatus) -> None:
        """The latest status beside the spool, for ``trialwire gateway status``."""
        tmp = self.status_file.with_suffix(".tmp")
        tmp.write_bytes(status_codec.encode(current))
        tmp.replace(self.status_file)

    def stop_collection(self, reason: str) -> None:
        """The platform takes nothing more for this gateway's subject: end every device
        session, keep nothing new in the spool (what is there still goes up: the platform
        takes what was measured before the change), and remember it across restarts."""
        if self.collection_stopped is None:
            logger.warning("collection stopped by the platform: %s", reason)
            self.stopped_file.write_text(reason)
        self.collection_stopped = reason
        self.writer.closed = True
        for session in self.sessions:
            session.stop()

    async def start(self) -> None:
        self.writer.start()
        await self.unknown.start()
        if self.collection_stopped is not None:
            logger.warning("collection stays stopped (%s); uploading what the spool holds",
                           self.collection_stopped)
        self._tasks = [asyncio.create_task(s.run(), name=f"session {s.entry.id}")
                       for s in self.sessions if self.collection_stopped is None]
        self._tasks += [
            asyncio.create_task(self.uploader.run(), name="uploader"),
            asyncio.create_task(self.uploader.follow_watermarks(), name="watermarks"),
            asyncio.create_task(self._publish_status(), name="status"),
        ]
        if isinstance(self.transport, HttpTransport) and self.config.api_token_file:
            rotation = TokenRotation(self.transport, Path(self.config.api_token_file))
            self._tasks.append(asyncio.create_task(self._rotate_token(rotation),
                                                   name="token rotation"))

    @staticmethod
    async def _rotate_token(rotation: TokenRotation) -> None:
        while True:
            await rotation.maybe_rotate()
            await asyncio.sleep(TOKEN_CHECK_S)

    async def stop(self) -> None:
        """Stop everything; never hangs on a stuck radio or broker (bounded waits)."""
        for session in self.sessions:
            session.stop()
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            _done, stuck = await asyncio.wait(self._tasks, timeout=10)
            for task in stuck:
                logger.warning("task %s did not stop within 10 s", task.get_name())
        await self.unknown.stop()
        await self.writer.stop()
        await self.uploader.close()
        self.spool.close()

    async def run_forever(self) -> None:
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()
