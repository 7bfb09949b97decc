"""Upload: cut envelopes from the spool, send them through the platform transport
(``gateway/transport.py``: the ingest service over HTTPS, or Kafka), and delete what the
platform reports persisted.

- Batches are cut per device (up to ``batch_max_items``, or older than
  ``batch_linger_ms``) and stored with their envelope before the first send.
- Sends go out in spool order per device; an acknowledged batch is marked sent.
- A sent batch the sink has not reported persisted after ``resend_after_s`` is judged on
  the platform's evidence (``stream/contract/loss_evidence.py``) and sent again, byte for
  byte, only if the broker lost it or the platform read past it unstored. A worker that is
  merely behind sees no re-sends: a slow platform gets less traffic, never more. The
  sink's writes are idempotent, so a re-send never doubles a row.
- Outages pause uploading (items keep accumulating in the spool) and uploading resumes on
  its own, after the platform's Retry-After where it gave one; nothing is dropped for
  being unsendable. A platform that refuses the gateway (revoked token, retired gateway)
  is asked again only every ``REFUSED_RETRY_S``; the spool keeps the data.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable
from datetime import datetime

import msgspec
import stamina

from gateway import retry_policy
from gateway.errors import BatchRejected, CollectionStopped, PlatformUnavailable, UploadRefused
from gateway.retry_policy import UPLOAD_TRANSIENT
from gateway.spool import Batch, DroppedRange, Spool
from gateway.transport import Transport
from gateway.wallclock import Clock
from stream.contract.envelope import (
    ClockEstimate,
    DroppedData,
    Envelope,
    WireReading,
    WireSegment,
)
from stream.contract.envelope import encode as encode_envelope
from stream.contract.gateway_config import GatewayConfig
from stream.contract.loss_evidence import AckedBatch, Verdict, backed_off
from stream.contract.status import UploadStatus

logger = logging.getLogger(__name__)

STALE_RESENDS_PER_CHECK = 100  # a cap on what one check re-sends for want of persistence
REFUSED_RETRY_S = 60.0
_reading_decoder = msgspec.json.Decoder(WireReading)
_segment_decoder = msgspec.json.Decoder(WireSegment)


class Uploader:
    def __init__(self, *, config: GatewayConfig, spool: Spool, transport: Transport,
                 status: UploadStatus, clock: Clock,
                 clock_estimates: dict[str, ClockEstimate] | None = None,
                 on_collection_stopped: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.on_collection_stopped = on_collection_stopped
        self.spool = spool
        self.transport = transport
        self.status = status
        self.clock = clock
        self.clock_estimates = clock_estimates if clock_estimates is not None else {}
        self._types = {d.id: d.type.value for d in config.devices}
        # Notification → acknowledgement, per item, most recent first out.
        self.latencies_ms: deque[float] = deque(maxlen=20_000)
        self.tick_s = max(0.1, config.batch_linger_ms / 2000)
        self.check_every_s = min(5.0, config.resend_after_s / 2)
        self._next_check = 0.0

    # -- envelopes ----------------------------------------------------------------------

    def _envelope(self, device_id: str, gseq_from: int, gseq_to: int,
                  **content: object) -> tuple[str, bytes]:
        """An envelope of this gateway's ``device_id`` for a sequence range, with its
        readings/segments or a loss report as ``content``."""
        batch_id = str(uuid.uuid4())
        envelope = Envelope(
            batch_id=batch_id, gateway_id=self.config.gateway_id, device_id=device_id,
            device_type=self._types.get(device_id, "unknown"), subject=self.config.subject,
            seq_from=gseq_from, seq_to=gseq_to, sent_at=self.clock.now(),
            starts_spool=gseq_from == self.spool.sequence_base,
            **content)  # type: ignore[arg-type]  # Envelope's own fields, checked by msgspec
        return batch_id, encode_envelope(envelope)

    def build_envelope(self, device_id: str, gseq_from: int, gseq_to: int,
                       payloads: list[bytes], kinds: list[str]) -> tuple[str, bytes]:
        readings = [_reading_decoder.decode(p) for p, k in zip(payloads, kinds, strict=True)
                    if k == "reading"]
        segments = [_segment_decoder.decode(p) for p, k in zip(payloads, kinds, strict=True)
                    if k == "segment"]
        return self._envelope(device_id, gseq_from, gseq_to, readings=readings,
                              segments=segments, clock=self.clock_estimates.get(device_id))

    def build_loss_report(self, dropped: DroppedRange) -> tuple[str, bytes]:
        """The envelope reporting a range the spool dropped, in place of its data."""
        return self._envelope(dropped.device_id, dropped.gseq_from, dropped.gseq_to,
                              dropped=DroppedData(items=dropped.items,
                                                  first=datetime.fromisoformat(dropped.first),
                                                  last=datetime.fromisoformat(dropped.last)))

    # -- sending ------------------------------------------------------------------------

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
        sent = 0
        try:
            async for batch, placed in self.transport.send(due):
                acked = time.time()
                # Counted as acknowledged before the spool says so: whoever sees the spool
                # with the batch sent sees it counted (even if a later one fails).
                sent += 1
                self.status.batches_sent += 1
                if batch.attempts:
                    self.status.resends += 1
                received = await asyncio.to_thread(
                    self.spool.mark_sent, batch.batch_id, acked, partition=placed.partition,
                    offset=placed.offset)
                self.latencies_ms.extend((acked - t) * 1000 for t in received)
        except BatchRejected as exc:  # the rest go out on the next tick
            await asyncio.to_thread(self._isolate_rejected, exc)
            if isinstance(exc, CollectionStopped) and self.on_collection_stopped is not None:
                self.on_collection_stopped(exc.detail)
        else:
            self.status.last_error = None  # a rejection's reason stays on show
        self.status.last_ack_at = self.clock.now()
        self.status.broker_reachable = True
        return sent

    def _isolate_rejected(self, rejected: BatchRejected) -> None:
        """Halve a rejected batch until the item to blame is alone, then drop that one
        and report it as a gap (``Spool.reject_batch``)."""
        if not self.spool.split_batch(rejected.batch_id, self.build_envelope):
            self.status.rejected_batches += 1
            self.status.last_error = str(rejected)
            self.spool.reject_batch(rejected.batch_id)

    def report_stall(self, waited_s: float) -> None:
        """The platform has not acknowledged for ``waited_s``: show it unreachable."""
        self.status.broker_reachable = False
        self.status.last_error = f"no acknowledgement for {waited_s:.0f} s"

    async def check_overdue(self) -> int:
        """Judge batches overdue for a persisted watermark on the platform's evidence. Due
        again: those the broker lost, those the platform read past without storing (each
        backing off), and, where the platform's position is unknown, those unpersisted for
        long (backing off, capped per check). The rest wait another ``resend_after_s``.
        Returns how many are due again."""
        overdue = await asyncio.to_thread(self.spool.overdue_batches,
                                          resend_after_s=self.config.resend_after_s)
        if not overdue:
            return 0
        verdicts = await self.transport.judge(overdue)

        def having(verdict: Verdict) -> list[AckedBatch]:
            return [b for b in overdue if verdicts.get(b.batch_id) is verdict]
        lost = {b.batch_id for b in having(Verdict.LOST)}
        skipped = set(backed_off(having(Verdict.SKIPPED), now=time.time(),
                                 base_s=self.config.resend_after_s,
                                 limit=STALE_RESENDS_PER_CHECK))
        stale = set(backed_off(having(Verdict.UNKNOWN), now=time.time(),
                               base_s=self.config.resend_unpersisted_after_s,
                               limit=STALE_RESENDS_PER_CHECK))
        answered = [b for b in overdue
                    if verdicts.get(b.batch_id, Verdict.UNANSWERED) is not Verdict.UNANSWERED]
        again = lost | skipped | stale
        await asyncio.to_thread(self.spool.mark_checked,
                                [b.batch_id for b in answered if b.batch_id not in again],
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
        """Send what is due every tick; while the platform is away, retry with backoff (or
        after its Retry-After); while it refuses this gateway, ask again now and then."""
        while True:
            try:
                await self._upload_until_refused()
            except UploadRefused as exc:
                self.status.broker_reachable = False
                self.status.last_error = f"refused by the platform: {exc}"
                logger.error("upload refused by the platform (%s); the spool keeps "
                             "everything; asking again in %.0f s", exc, REFUSED_RETRY_S)
                await asyncio.sleep(REFUSED_RETRY_S)

    async def _upload_until_refused(self) -> None:
        while True:
            async for attempt in stamina.retry_context(on=UPLOAD_TRANSIENT, attempts=None,
                                                       **retry_policy.BROKER.stamina_kwargs()):
                with attempt:
                    try:
                        await self.send_due()
                        await self._check_now_and_then()
                    except UPLOAD_TRANSIENT as exc:
                        self.status.broker_reachable = False
                        self.status.last_error = f"{type(exc).__name__}: {exc}"
                        logger.warning("upload paused (%s); retrying", exc)
                        if isinstance(exc, PlatformUnavailable) and exc.retry_after_s:
                            await asyncio.sleep(exc.retry_after_s)  # as the platform asked
                        raise
            await asyncio.sleep(self.tick_s)

    async def close(self) -> None:
        await self.transport.close()

    # -- watermarks ---------------------------------------------------------------------

    async def follow_watermarks(self) -> None:
        """Apply this gateway's persisted watermarks as they arrive; reconnect on errors."""
        while True:
            try:
                await self._follow_until_refused()
            except UploadRefused as exc:
                logger.error("watermarks refused by the platform (%s); asking again in "
                             "%.0f s", exc, REFUSED_RETRY_S)
                await asyncio.sleep(REFUSED_RETRY_S)

    async def _follow_until_refused(self) -> None:
        async for attempt in stamina.retry_context(on=UPLOAD_TRANSIENT, attempts=None,
                                                   **retry_policy.BROKER.stamina_kwargs()):
            with attempt:
                try:
                    async for marks in self.transport.persisted():
                        await self.apply_watermarks(marks)
                except UPLOAD_TRANSIENT as exc:
                    logger.warning("watermarks: %s; reconnecting", exc)
                    raise

    async def apply_watermarks(self, marks: dict[str, int]) -> None:
        for device_id, through in marks.items():
            deleted = await asyncio.to_thread(self.spool.apply_watermark, device_id, through)
            logger.debug("%s persisted through %d: %d item(s) freed", device_id, through,
                         deleted)
