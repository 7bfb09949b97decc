"""Upload: cut envelopes from the spool, send them with acks=all, and delete what the
platform reports persisted.

- Batches are cut per device (up to ``batch_max_items``, or older than
  ``batch_linger_ms``) and stored with their envelope before the first send.
- Sends go out in spool order per device; an acknowledged batch is marked sent.
- A sent batch the sink has not reported persisted after ``resend_after_s`` is checked
  against the broker (``stream/contract/loss_evidence.py``) and sent again, byte for byte, only if
  the broker lost it (an in-memory broker restarting, retention). A worker that is merely
  behind sees no re-sends: a slow platform gets less traffic, never more. The sink's
  writes are idempotent, so a re-send never doubles a row.
- Broker outages pause uploading (items keep accumulating in the spool) and uploading
  resumes on its own; nothing is dropped for being unsendable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from datetime import datetime

import msgspec
import stamina
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from gateway import retry_policy
from gateway.retry_policy import BROKER_TRANSIENT
from gateway.spool import Batch, DroppedRange, Spool
from gateway.wallclock import Clock
from stream.contract import watermark as watermarks
from stream.contract.envelope import (
    ClockEstimate,
    DroppedData,
    Envelope,
    WireReading,
    WireSegment,
)
from stream.contract.envelope import encode as encode_envelope
from stream.contract.gateway_config import GatewayConfig
from stream.contract.loss_evidence import (
    AckedBatch,
    Verdict,
    backed_off,
    judge,
    probe_offsets,
)
from stream.contract.status import UploadStatus
from stream.kafka.broker_log import BrokerLog
from stream.kafka.settings import KafkaSettings

logger = logging.getLogger(__name__)

SEND_TIMEOUT_S = 60.0
ACK_STALL_S = 3.0
WATERMARK_PARTITIONS_CHECK_S = 10.0
STALE_RESENDS_PER_CHECK = 100  # a cap on what one check re-sends for want of persistence
_reading_decoder = msgspec.json.Decoder(WireReading)
_segment_decoder = msgspec.json.Decoder(WireSegment)


class Uploader:
    def __init__(self, *, config: GatewayConfig, spool: Spool, kafka: KafkaSettings,
                 status: UploadStatus, clock: Clock,
                 clock_estimates: dict[str, ClockEstimate] | None = None) -> None:
        self.config = config
        self.spool = spool
        self.kafka = kafka
        self.status = status
        self.clock = clock
        self.clock_estimates = clock_estimates if clock_estimates is not None else {}
        self._types = {d.id: d.type.value for d in config.devices}
        self._producer: AIOKafkaProducer | None = None
        # Notification → Kafka acknowledgement, per item, most recent first out.
        self.latencies_ms: deque[float] = deque(maxlen=20_000)
        self.tick_s = max(0.1, config.batch_linger_ms / 2000)
        self.check_every_s = min(5.0, config.resend_after_s / 2)
        self._broker_log = BrokerLog(kafka, config.platform_group)
        self._next_check = 0.0

    # -- envelopes ----------------------------------------------------------------------

    def build_envelope(self, device_id: str, gseq_from: int, gseq_to: int,
                       payloads: list[bytes], kinds: list[str]) -> tuple[str, bytes]:
        readings = [_reading_decoder.decode(p) for p, k in zip(payloads, kinds, strict=True)
                    if k == "reading"]
        segments = [_segment_decoder.decode(p) for p, k in zip(payloads, kinds, strict=True)
                    if k == "segment"]
        batch_id = str(uuid.uuid4())
        envelope = Envelope(
            batch_id=batch_id, gateway_id=self.config.gateway_id, device_id=device_id,
            device_type=self._types.get(device_id, "unknown"), subject=self.config.subject,
            seq_from=gseq_from, seq_to=gseq_to, sent_at=self.clock.now(),
            readings=readings, segments=segments, clock=self.clock_estimates.get(device_id),
            starts_spool=gseq_from == self.spool.sequence_base)
        return batch_id, encode_envelope(envelope)

    # -- sending ------------------------------------------------------------------------

    async def _producer_ready(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(**self.kafka.producer_config())
            await producer.start()
            self._producer = producer
        return self._producer

    async def _drop_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), 5)

    def build_loss_report(self, dropped: DroppedRange) -> tuple[str, bytes]:
        """The envelope reporting a range the spool dropped, in place of its data."""
        batch_id = str(uuid.uuid4())
        envelope = Envelope(
            batch_id=batch_id, gateway_id=self.config.gateway_id, device_id=dropped.device_id,
            device_type=self._types.get(dropped.device_id, "unknown"),
            subject=self.config.subject, seq_from=dropped.gseq_from, seq_to=dropped.gseq_to,
            sent_at=self.clock.now(), starts_spool=dropped.gseq_from == self.spool.sequence_base,
            dropped=DroppedData(
                items=dropped.items, first=datetime.fromisoformat(dropped.first),
                last=datetime.fromisoformat(dropped.last)))
        return batch_id, encode_envelope(envelope)

    def _cut_and_list(self) -> list[Batch]:
        """One trip to the spool thread: cut loss reports and new batches, then list what
        is due."""
        self.status.loss_reports += self.spool.cut_loss_reports(self.build_loss_report)
        self.spool.build_batches(self.build_envelope, max_items=self.config.batch_max_items,
                                 linger_s=self.config.batch_linger_ms / 1000)
        return self.spool.due_batches()

    async def send_due(self) -> int:
        """Cut new batches and send everything due, in order per device; batches acked."""
        due = await asyncio.to_thread(self._cut_and_list)
        if not due:
            return 0
        producer = await self._producer_ready()
        sent = 0
        pending: list[tuple[Batch, asyncio.Future[object]]] = []
        for batch in due:
            future = await producer.send(self.kafka.topics.raw_readings, batch.envelope,
                                         key=self.config.subject.encode())
            pending.append((batch, future))
        for batch, future in pending:
            metadata = await self._await_ack(future)
            acked = time.time()
            received = await asyncio.to_thread(
                self.spool.mark_sent, batch.batch_id, acked,
                partition=getattr(metadata, "partition", None),
                offset=getattr(metadata, "offset", None))
            self.latencies_ms.extend((acked - t) * 1000 for t in received)
            sent += 1
            if batch.attempts:
                self.status.resends += 1
        self.status.batches_sent += sent
        self.status.last_ack_at = self.clock.now()
        self.status.broker_reachable = True
        self.status.last_error = None
        return sent

    async def _await_ack(self, future: asyncio.Future[object]) -> object:
        """Wait for an acknowledgement (the record's metadata); a broker silent for
        ACK_STALL_S shows as unreachable."""
        waited = 0.0
        while True:
            done, _ = await asyncio.wait({future}, timeout=ACK_STALL_S)
            if done:
                return future.result()  # raises the producer's error, if any
            waited += ACK_STALL_S
            self.status.broker_reachable = False
            self.status.last_error = f"no acknowledgement for {waited:.0f} s"
            if waited >= SEND_TIMEOUT_S:
                raise TimeoutError(f"no acknowledgement from the broker in {waited:.0f} s")

    async def check_overdue(self) -> int:
        """Ask the broker about batches overdue for a persisted watermark. Due again: those
        it lost, those the platform read past without storing (each backing off), and,
        where the platform's position is unknown, those unpersisted for long (backing off,
        capped per check). The rest wait another ``resend_after_s``. Returns how many are
        due again."""
        overdue = await asyncio.to_thread(self.spool.overdue_batches,
                                          resend_after_s=self.config.resend_after_s)
        if not overdue:
            return 0
        logs = await self._broker_log.describe(probe_offsets(overdue))
        verdicts = judge(overdue, logs)

        def having(verdict: Verdict) -> list[AckedBatch]:
            return [b for b in overdue if verdicts[b.batch_id] is verdict]
        lost = {b.batch_id for b in having(Verdict.LOST)}
        skipped = set(backed_off(having(Verdict.SKIPPED), now=time.time(),
                                 base_s=self.config.resend_after_s,
                                 limit=STALE_RESENDS_PER_CHECK))
        stale = set(backed_off(having(Verdict.UNKNOWN), now=time.time(),
                               base_s=self.config.resend_unpersisted_after_s,
                               limit=STALE_RESENDS_PER_CHECK))
        held = [b for b in overdue if verdicts[b.batch_id] is not Verdict.UNANSWERED]
        again = lost | skipped | stale
        await asyncio.to_thread(self.spool.mark_checked,
                                [b.batch_id for b in held if b.batch_id not in again],
                                sorted(again))
        if lost:
            self.status.lost_by_broker += len(lost)
            logger.warning("the broker no longer holds %d acknowledged batch(es); re-sending",
                           len(lost))
        if skipped:
            self.status.skipped_by_platform += len(skipped)
            logger.warning("the platform read past %d batch(es) without storing them; "
                           "re-sending", len(skipped))
        if stale:
            self.status.resent_unpersisted += len(stale)
            logger.warning("%d batch(es) held by the broker but unpersisted for over %.0f s "
                           "(the platform's position is unknown); re-sending (backing off)",
                           len(stale), self.config.resend_unpersisted_after_s)
        return len(again)

    async def _check_now_and_then(self) -> None:
        now = time.monotonic()
        if now >= self._next_check:
            self._next_check = now + self.check_every_s
            if await self.check_overdue():
                await self.send_due()

    def latency_summary(self) -> dict[str, float]:
        values = sorted(self.latencies_ms)
        if not values:
            return {}
        def pct(p: float) -> float:
            return round(values[min(len(values) - 1, int(p / 100 * len(values)))], 1)
        return {"p50": pct(50), "p99": pct(99), "max": round(values[-1], 1),
                "count": float(len(values))}

    async def run(self) -> None:
        """Send what is due every tick; while the broker is away, retry with backoff."""
        while True:
            async for attempt in stamina.retry_context(on=BROKER_TRANSIENT, attempts=None,
                                                       **retry_policy.BROKER.stamina_kwargs()):
                with attempt:
                    try:
                        await self.send_due()
                        await self._check_now_and_then()
                    except BROKER_TRANSIENT as exc:
                        self.status.broker_reachable = False
                        self.status.last_error = f"{type(exc).__name__}: {exc}"
                        logger.warning("upload paused (%s); retrying", exc)
                        await self._drop_producer()
                        await self._broker_log.close()
                        raise
            await asyncio.sleep(self.tick_s)

    async def close(self) -> None:
        await self._drop_producer()
        await self._broker_log.close()

    # -- watermarks ---------------------------------------------------------------------

    async def follow_watermarks(self) -> None:
        """Apply persisted watermarks for this gateway (all partitions, filtered by key)."""
        async for attempt in stamina.retry_context(on=BROKER_TRANSIENT, attempts=None,
                                                   **retry_policy.BROKER.stamina_kwargs()):
            with attempt:
                try:
                    await self._apply_watermarks()
                except BROKER_TRANSIENT as exc:
                    logger.warning("watermark consumer: %s; reconnecting", exc)
                    raise

    async def _apply_watermarks(self) -> None:
        """One consumer session: free spooled items as watermarks arrive, until an error.

        The topic's partitions are looked up again every ``WATERMARK_PARTITIONS_CHECK_S``:
        a broker that restarted empty (or an operator adding partitions) can bring the
        topic back with more partitions, and a watermark there must not go unread."""
        key = self.config.gateway_id.encode()
        topic = self.kafka.topics.watermarks
        config = self.kafka.consumer_config(group_id=f"gateway-{self.config.gateway_id}-wm")
        config["fetch_max_wait_ms"] = 1000  # watermarks are not urgent: poll gently
        # The client's own view of the partitions, refreshed this often (not every 5 min).
        config["metadata_max_age_ms"] = int(WATERMARK_PARTITIONS_CHECK_S * 1000)
        consumer = AIOKafkaConsumer(**config)
        try:
            await consumer.start()
            assigned: set[int] = set()
            next_check = 0.0
            while True:
                if time.monotonic() >= next_check:
                    # The topic may not exist yet: the metadata refresh will show it.
                    partitions = consumer.partitions_for_topic(topic) or set()
                    if partitions and partitions != assigned:
                        consumer.assign([TopicPartition(topic, p) for p in partitions])
                        assigned = set(partitions)
                    next_check = time.monotonic() + (
                        WATERMARK_PARTITIONS_CHECK_S if assigned else 1.0)
                if not assigned:
                    await asyncio.sleep(1.0)
                    continue
                fetched = await consumer.getmany(timeout_ms=1000)
                for message in (m for records in fetched.values() for m in records):
                    if message.key == key:
                        await self._apply_watermark_message(message.value)
                if fetched:
                    with contextlib.suppress(KafkaError):
                        await consumer.commit()
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()

    async def _apply_watermark_message(self, value: bytes | None) -> None:
        try:
            wm = watermarks.decode(value or b"")
        except (msgspec.ValidationError, msgspec.DecodeError):
            logger.warning("ignoring a malformed watermark message")
            return
        for device_id, through in wm.devices.items():
            deleted = await asyncio.to_thread(self.spool.apply_watermark, device_id, through)
            logger.debug("%s persisted through %d: %d item(s) freed", device_id, through,
                         deleted)
