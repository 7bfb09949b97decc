"""Escalation against a real PostgreSQL and real webhook receivers: a later on-call level
gets a flag only when nobody acknowledged it in time; an acknowledged flag's escalation is
cancelled; a flag escalated by hand reaches the next level at once; a delivered
escalation moves an open flag to ``escalated`` with an audit entry."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import psycopg
import pytest

from deploy.bench.seed import STUDY
from storage import alerts, audit
from stream.alerts.service import serve
from stream.alerts.settings import SmtpSettings
from tests.fixtures.http_server import serving
from tests.integration.stream.test_alert_delivery import FAST, Receiver, store_flags, until

pytestmark = pytest.mark.integration


LEVELS = (("coordinator", 0), ("investigator", 2), ("medical-monitor", 3600))


@pytest.fixture
def receivers() -> Iterator[dict[str, tuple[Receiver, str]]]:
    """One webhook receiver per on-call level."""
    hooks = [Receiver() for _ in LEVELS]
    with serving(hooks[0].app()) as p1, serving(hooks[1].app()) as p2, \
            serving(hooks[2].app()) as p3:
        yield {name: (hook, f"http://127.0.0.1:{port}/hook")
               for (name, _), hook, port in zip(LEVELS, hooks, (p1, p2, p3), strict=True)}


async def deliveries(dsn: str) -> dict[tuple[int, str], str]:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        rows = await (await conn.execute(
            "SELECT d.flag_id, c.name, d.status FROM alert_deliveries d"
            " JOIN alert_channels c ON c.id = d.channel_id")).fetchall()
    return {(int(f), str(c)): str(s) for f, c, s in rows}


async def test_unacknowledged_flags_escalate_acknowledged_ones_do_not(
        study: str, receivers: dict[str, tuple[Receiver, str]]) -> None:
    async with await psycopg.AsyncConnection.connect(study) as conn:
        for name, after_s in LEVELS:
            hook, url = receivers[name]
            hook.secret = (await alerts.create_channel(
                conn, study=STUDY, name=name, kind="webhook", target=url,
                escalate_after_s=after_s)).secret or ""
        await conn.commit()
    acked, ignored, by_hand = await store_flags(study, ["high", "high", "high"])
    async with await psycopg.AsyncConnection.connect(study) as conn:
        await conn.execute("UPDATE flags SET status = 'acknowledged' WHERE id = %s", (acked,))
        await conn.commit()

    stop = asyncio.Event()
    task = asyncio.create_task(serve(study, FAST, SmtpSettings(), stop))
    try:
        async def planned() -> bool:
            got = await deliveries(study)
            return all(got.get((f, "coordinator")) == "delivered"
                       for f in (acked, ignored, by_hand))
        await until(planned, 30, "the first level's deliveries")
        # A monitor escalates one flag by hand (what the API's escalate action does).
        async with await psycopg.AsyncConnection.connect(study) as conn:
            await conn.execute("UPDATE flags SET status = 'escalated' WHERE id = %s", (by_hand,))
            assert await alerts.escalate_now(conn, flag_id=by_hand) == 2
            await conn.commit()
        expected = {
            (acked, "coordinator"): "delivered", (acked, "investigator"): "cancelled",
            (acked, "medical-monitor"): "pending",
            (ignored, "coordinator"): "delivered", (ignored, "investigator"): "delivered",
            (ignored, "medical-monitor"): "pending",
            (by_hand, "coordinator"): "delivered", (by_hand, "investigator"): "delivered",
            (by_hand, "medical-monitor"): "delivered",
        }

        async def escalated() -> bool:
            return await deliveries(study) == expected
        await until(escalated, 30, f"the escalations {expected}")
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)

    async with await psycopg.AsyncConnection.connect(study) as conn:
        status = dict(await (await conn.execute(
            "SELECT id, status FROM flags WHERE id = ANY(%s)",
            ([acked, ignored, by_hand],))).fetchall())
        trail = await audit.entries(conn, entity_type="flag", entity_id=str(ignored))
        [log] = [d for d in await alerts.deliveries_of_flag(conn, study=STUDY, flag_id=acked)
                 if d.channel == "investigator"]
    assert status == {acked: "acknowledged", ignored: "escalated", by_hand: "escalated"}
    [entry] = trail
    assert (entry["actor"], entry["action"], entry["reason"]) == (
        "alert-dispatcher", "escalate", "unacknowledged")
    assert entry["details"]["channel"] == "investigator"
    assert (log.escalation, log.attempts, log.last_error) == (
        True, 0, "flag acknowledged before the escalation was due")
    assert all(hook.bad_signatures == [] for hook, _ in receivers.values())
    # Each level's receiver took exactly the alerts that reached its level.
    assert [len(hook.taken) for hook, _ in receivers.values()] == [3, 2, 1]
