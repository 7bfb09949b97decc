"""Platform-side liveness: every ``CHECK_S``, raise (or extend) ``gateway_offline`` for
each gateway the platform has not heard from within ``silent_s``, and
``device_never_seen`` for each enrolled device that has produced nothing within its
catalog's first-data time; publish the new flags on the flags topic. Several workers may
check at once: a flag is stored once (``storage/flags.py`` merges a re-raise into its
episode)."""

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
from stream.flags.device_never_seen import first_data_within_s, never_seen_flags
from stream.flags.gateway_offline import offline_flags

logger = logging.getLogger(__name__)

CHECK_S = 15.0


class PlatformLiveness:
    def __init__(self, *, db: Database, flags: TopicT, silent_s: float,
                 first_data_s: dict[str, float] | None = None) -> None:
        self.db = db
        self.flags_topic = flags
        self.silent_s = silent_s
        self.first_data_s = first_data_s if first_data_s is not None else first_data_within_s()

    async def check(self, now: datetime) -> list[Flag]:
        """Store the flags of the gateways silent and the devices unseen at ``now``;
        publish and return the new ones."""
        async def work(conn: psycopg.AsyncConnection[Any]) -> list[Flag]:
            silent = await liveness.silent_gateways(conn, now=now, silent_s=self.silent_s)
            unseen = await liveness.unseen_devices(conn, now=now, within_s=self.first_data_s)
            new_flags = []
            for flag in offline_flags(silent, now) + never_seen_flags(unseen, now):
                flag_id, new = await flag_store.store(conn, flag)
                if new:
                    new_flags.append(msgspec.structs.replace(flag, flag_id=flag_id))
            return new_flags

        published = await self.db.run("platform liveness", work)
        for flag in published:
            logger.warning("%s for subject %s (gateway %s, device %s) since %s",
                           flag.rule_id, flag.subject, flag.details.get("gateway"),
                           flag.device_id, flag.window_start.isoformat())
            await (await self.flags_topic.send(key=flag.subject.encode(),
                                               value=flag_codec.encode(flag)))
        return published
