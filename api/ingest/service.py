"""The ingest service's long-lived parts, started and stopped with the ASGI app that
serves it (the API process, or ``trialwire ingest serve`` on its own): the Kafka producer,
the credential and enrollment caches, the watermark board, and the tasks that keep them
current (credential change notices, last-seen times)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

from psycopg_pool import AsyncConnectionPool

from api.auth import tokens
from api.auth.roles import Principal
from api.ingest.producer import RecoveringProducer
from api.ingest.rate_limit import RateLimiter
from api.ingest.ttl_cache import TtlCache
from api.ingest.watermark_board import WatermarkBoard
from storage import credential_events
from storage.pool import connect
from storage.queries import gateways as stored_gateways
from storage.queries import tokens as stored_tokens
from storage.queries.gateways import GatewayAccess
from storage.queries.tokens import StoredToken
from stream.contract.loss_evidence import AckedBatch, Verdict
from stream.kafka.broker_log import BrokerLog
from stream.kafka.settings import KafkaSettings

logger = logging.getLogger(__name__)

CREDENTIAL_TTL_S = 30.0  # a revocation missed by the listener takes effect within this
NOT_FOUND_TTL_S = 5.0
STALE_S = 600.0  # through a database outage, known gateways keep uploading this long
LOOKUP_TIMEOUT_S = 2.0
SEEN_FLUSH_S = 30.0
# Per gateway token: a home sends a few batches a second, more while catching up.
RATE_PER_S = 50.0
BURST = 100.0
LISTEN_RETRY_S = 5.0


class IngestService:
    def __init__(self, kafka: KafkaSettings, pool: AsyncConnectionPool, dsn: str, *,
                 platform_group: str, rate_per_s: float = RATE_PER_S,
                 burst: float = BURST) -> None:
        self.kafka = kafka
        self.pool = pool
        self.dsn = dsn
        self.topic = kafka.topics.raw_readings
        self.producer: RecoveringProducer | None = None
        self.tokens: TtlCache[str, StoredToken] = TtlCache(
            self._load_token, ttl_s=CREDENTIAL_TTL_S, negative_ttl_s=NOT_FOUND_TTL_S,
            stale_s=STALE_S)
        self.gateways: TtlCache[str, GatewayAccess] = TtlCache(
            self._load_gateway, ttl_s=CREDENTIAL_TTL_S, negative_ttl_s=NOT_FOUND_TTL_S,
            stale_s=STALE_S)
        self.board = WatermarkBoard(kafka)
        self.limiter = RateLimiter(rate=rate_per_s, burst=burst)
        # One probe at a time: the consumer is re-assigned per question.
        self._broker_log = BrokerLog(kafka, platform_group)
        self._probe_lock = asyncio.Lock()
        self._seen: dict[str, datetime] = {}
        self.listening = asyncio.Event()  # credential change notices arrive
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        self.producer = RecoveringProducer(self.kafka)
        await self.producer.start()
        self._tasks = [asyncio.create_task(self.board.run(), name="watermark-board"),
                       asyncio.create_task(self._follow_changes(), name="credential-events"),
                       asyncio.create_task(self._flush_seen_regularly(), name="last-seen")]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._flush_seen(), 5)
        await self._broker_log.close()
        if self.producer is not None:
            producer, self.producer = self.producer, None
            await producer.stop()

    # -- per request (no database unless a cache entry is missing or old) ---------------

    async def authenticate(self, token: str) -> Principal | None:
        parsed = tokens.parse(token)
        if parsed is None:
            return None
        token_id, secret = parsed
        return tokens.check(await self.tokens.get(token_id), token_id, secret)

    async def gateway_access(self, gateway_id: str) -> GatewayAccess | None:
        return await self.gateways.get(gateway_id)

    def seen(self, gateway_id: str) -> None:
        self._seen[gateway_id] = datetime.now(UTC)

    async def judge(self, batches: list[AckedBatch]) -> dict[str, Verdict]:
        """The loss evidence on a gateway's overdue batches (what a Kafka-direct gateway
        gathers itself, ``stream/contract/loss_evidence.py``)."""
        async with self._probe_lock:
            return await self._broker_log.judge(batches)

    # -- look-ups -----------------------------------------------------------------------

    async def _load_token(self, token_id: str) -> StoredToken | None:
        async with self.pool.connection(timeout=LOOKUP_TIMEOUT_S) as conn:
            return await stored_tokens.find_token(conn, token_id=token_id)

    async def _load_gateway(self, gateway_id: str) -> GatewayAccess | None:
        async with self.pool.connection(timeout=LOOKUP_TIMEOUT_S) as conn:
            return await stored_gateways.access(conn, gateway_id=gateway_id)

    # -- background ---------------------------------------------------------------------

    def apply_change(self, change: str) -> None:
        """Drop what a credential change notice makes stale."""
        kind, _, key = change.partition(":")
        if kind == "token":
            self.tokens.invalidate(key)
        elif kind == "gateway":
            self.gateways.invalidate(key)
            self.tokens.invalidate_where(
                lambda _, row: row is not None and row.gateway_id == key)
        else:  # an unknown notice: be safe
            self.tokens.clear()
            self.gateways.clear()

    async def _follow_changes(self) -> None:
        while True:
            try:
                conn = await connect(self.dsn, autocommit=True)
                try:
                    await credential_events.listen(conn)
                    # Anything may have changed while no one listened.
                    self.tokens.clear()
                    self.gateways.clear()
                    self.listening.set()
                    async for change in credential_events.changes(conn):
                        self.apply_change(change)
                finally:
                    self.listening.clear()
                    await conn.close()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning("credential change notices unavailable (%s); cached entries "
                               "expire after %.0f s meanwhile", exc, CREDENTIAL_TTL_S)
            await asyncio.sleep(LISTEN_RETRY_S)

    async def _flush_seen(self) -> None:
        seen, self._seen = self._seen, {}
        if not seen:
            return
        try:
            async with self.pool.connection(timeout=LOOKUP_TIMEOUT_S) as conn:
                await stored_gateways.mark_seen(conn, seen=seen)
        except Exception:
            for gateway_id, at in seen.items():  # next time, then
                self._seen[gateway_id] = max(at, self._seen.get(gateway_id, at))
            raise

    async def _flush_seen_regularly(self) -> None:
        while True:
            await asyncio.sleep(SEEN_FLUSH_S)
            try:
                await self._flush_seen()
            except Exception as exc:
                logger.warning("could not record gateways' last-seen times: %s", exc)


def describe(service: IngestService) -> dict[str, Any]:
    """Cache and board figures for logs and tests."""
    return {"token_hits": service.tokens.hits, "token_misses": service.tokens.misses,
            "gateway_hits": service.gateways.hits, "gateway_misses": service.gateways.misses,
            "watermark_messages": service.board.messages}
