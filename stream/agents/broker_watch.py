"""Notice a broker that lost its state under a running worker, and end the worker.

An in-memory broker that restarts forgets every topic, group and offset. Clients that
stay up keep writing to "ghost" topics, offset commits fail forever and table recovery
hangs (shared/kafka-compat.md §6), so a worker cannot carry on. It exits with
:data:`EXIT_BROKER_RESET` for its supervisor (systemd, Kubernetes, ``trialwire up``) to
start a fresh one, which creates the topics again. Nothing is lost by exiting: offsets
are committed only after the database commit, and gateways re-send every batch whose
persisted watermark has not come back.
"""

from __future__ import annotations

import logging

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from stream.kafka.settings import KafkaSettings

logger = logging.getLogger(__name__)

EXIT_BROKER_RESET = 75  # EX_TEMPFAIL: restart me
CHECK_INTERVAL_S = 1.0  # short: until it exits, the worker writes into "ghost" topics
MISSES_TO_EXIT = 2  # consecutive checks without the topics (a metadata hiccup is not a reset)


class BrokerWatch:
    def __init__(self, kafka: KafkaSettings, topics: list[str]) -> None:
        self.kafka = kafka
        self.topics = topics
        self.misses = 0
        self._admin: AIOKafkaAdminClient | None = None

    async def topics_missing(self) -> list[str] | None:
        """Which of the worker's topics the broker no longer knows; None if unreachable."""
        try:
            if self._admin is None:
                admin = AIOKafkaAdminClient(**self.kafka.admin_config())
                await admin.start()
                self._admin = admin
            existing = set(await self._admin.list_topics())
        except (KafkaError, OSError) as exc:
            logger.debug("broker watch: metadata unavailable: %s", exc)
            await self.close()
            return None
        return [t for t in self.topics if t not in existing]

    async def reset_detected(self) -> bool:
        """True once the topics were missing on :data:`MISSES_TO_EXIT` checks in a row."""
        missing = await self.topics_missing()
        if missing is None:
            return False
        self.misses = self.misses + 1 if missing else 0
        if missing:
            logger.warning("broker no longer knows topic(s) %s (check %d of %d)",
                           ", ".join(missing), self.misses, MISSES_TO_EXIT)
        return self.misses >= MISSES_TO_EXIT

    async def close(self) -> None:
        admin, self._admin = self._admin, None
        if admin is not None:
            try:
                await admin.close()
            except (KafkaError, OSError):
                logger.debug("broker watch: admin close failed", exc_info=True)
