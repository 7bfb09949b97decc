"""Platform-side liveness: every ``CHECK_S``, raise (or extend) ``gateway_offline`` for
each gateway the platform has not heard from within ``silent_s``, and publish the new
flags on the flags topic. Several workers may check at once: a flag is stored once
(``storage/flags.py`` merges a re-raise into its episode)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import msgspec
import psycopg
from faust.types import TopicT

from storage import flags as flag_store
from storage import liveness
from stream.agents.database import Database
from stream.contract import flag as flag_codec
from stream.contract.flag import Flag
from stream.flags.gateway_offline import offline_flags

logger = logging.getLogger(__name__)

CHECK_S = 15.0


class GatewayLiveness:
    def __init__(self, *, db: Database, flags: TopicT, silent_s: float) -> None:
        self.db = db
        self.flags_topic = flags
        self.silent_s = silent_s

    async def check(self, now: datetime) -> list[Flag]:
        """Store the flags of the gateways silent at ``now``; publish and return the new."""
        async def work(conn: psycopg.AsyncConnection[Any]) -> list[Flag]:
            silent = await liveness.silent_gateways(conn, now=now, silent_s=self.silent_s)
            new_flags = []
            for flag in offline_flags(silent, now):
                flag_id, new = await flag_store.store(conn, flag)
                if new:
                    new_flags.append(msgspec.structs.replace(flag, flag_id=flag_id))
            return new_flags

        published = await self.db.run("gateway liveness", work)
        for flag in published:
            logger.warning("gateway %s silent since %s: %s flag for subject %s",
                           flag.details.get("gateway"), flag.window_start.isoformat(),
                           flag.rule_id, flag.subject)
            await (await self.flags_topic.send(key=flag.subject.encode(),
                                               value=flag_codec.encode(flag)))
        return published
