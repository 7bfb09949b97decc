"""The live page's change feed (``GET /v1/studies/{study}/events``) on a real uvicorn
server on loopback and a real PostgreSQL: a new flag and a status change reach an open
stream, another study's flags do not, the role checks hold, open streams hold no pooled
database connection, the number of streams is capped, and a stream ends by itself."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import httpx
import msgspec
import psycopg
import pytest
from pydantic import SecretStr

from api.main import create_app
from api.settings import ApiSettings
from deploy.bench.seed import STUDY
from storage import flags as flag_store
from storage.settings import DatabaseSettings
from stream.contract.flag import Flag
from tests.fixtures.http_server import serving
from tests.integration.api.conftest import OTHER_STUDY, Api

pytestmark = [pytest.mark.integration, pytest.mark.one_storage_mode]  # no readings

URL = f"/v1/studies/{STUDY}/events"
T0 = datetime(2026, 12, 7, 8, tzinfo=UTC)


@pytest.fixture
def server(api: Api) -> Iterator[str]:
    """The API with a two-connection pool, at most three streams, each ending after 4 s."""
    app = create_app(DatabaseSettings(url=SecretStr(api.dsn), pool_max_size=2),
                     settings=ApiSettings(live_max_subscribers=3, live_stream_max_s=4.0,
                                          live_heartbeat_s=0.5))
    with serving(app) as port:
        yield f"http://127.0.0.1:{port}"


async def raise_flag(dsn: str, study: str, subject: str, hour: int) -> int:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        flag_id, _ = await flag_store.store(conn, Flag(
            study=study, subject=subject, device_id=None, metric="heart_rate",
            rule_id="hr_tachycardia", rule_version=1, severity="high",
            window_start=T0 + timedelta(hours=hour),
            window_end=T0 + timedelta(hours=hour, minutes=2), raised_at=T0, raised_on="live"))
        await conn.commit()
    return flag_id


@contextlib.asynccontextmanager
async def stream(client: httpx.AsyncClient, url: str,
                 headers: dict[str, str]) -> AsyncIterator[AsyncIterator[tuple[str, dict[str, object]]]]:
    """The events of one open stream, as (event, data)."""
    async with client.stream("GET", url, headers=headers) as answer:
        assert answer.status_code == 200, await answer.aread()
        assert answer.headers["content-type"].startswith("text/event-stream")

        async def events() -> AsyncIterator[tuple[str, dict[str, object]]]:
            name = ""
            async for line in answer.aiter_lines():
                if line.startswith("event: "):
                    name = line[len("event: "):]
                elif line.startswith("data: "):
                    yield name, msgspec.json.decode(line[len("data: "):])
        yield events()


async def next_event(events: AsyncIterator[tuple[str, dict[str, object]]],
                     timeout: float = 5.0) -> tuple[str, dict[str, object]]:
    return await asyncio.wait_for(anext(events), timeout)


async def test_a_new_flag_and_its_review_reach_an_open_page_of_its_study_only(
        api: Api, server: str) -> None:
    async with (httpx.AsyncClient(base_url=server, timeout=10) as client,
                stream(client, URL, api.headers("monitor")) as events):
        assert (await next_event(events))[0] == "hello"
        await asyncio.sleep(0.5)  # the hub's LISTEN is in place by now
        await raise_flag(api.dsn, OTHER_STUDY, "X-1", 1)  # not this study's
        flag_id = await raise_flag(api.dsn, STUDY, "S-1", 1)
        assert await next_event(events) == ("flag", {"flag": flag_id, "status": "open"})
        changed = await client.post(f"/v1/studies/{STUDY}/flags/{flag_id}/transitions",
                                    json={"action": "acknowledge"},
                                    headers=api.headers("monitor"))
        assert changed.status_code == 200
        assert await next_event(events) == ("flag", {"flag": flag_id,
                                                     "status": "acknowledged"})


@pytest.mark.parametrize(("who", "code"), [("analyst", 403), ("edc", 403), ("gateway", 403),
                                           ("other:monitor", 403)])
async def test_only_the_studys_monitors_and_admins_may_watch(api: Api, server: str, who: str,
                                                             code: int) -> None:
    async with httpx.AsyncClient(base_url=server, timeout=10) as client:
        assert (await client.get(URL, headers=api.headers(who))).status_code == code
        assert (await client.get(URL)).status_code == 401


async def test_open_streams_hold_no_database_connection_and_are_capped(
        api: Api, server: str) -> None:
    async with (httpx.AsyncClient(base_url=server, timeout=10) as client,
                contextlib.AsyncExitStack() as streams):
        opened = []  # kept: a dropped reader would close its stream
        for _ in range(3):  # more than the pool's two connections
            opened.append(await streams.enter_async_context(
                stream(client, URL, api.headers("monitor"))))
            assert (await next_event(opened[-1]))[0] == "hello"
        # Were the streams holding the pool's two connections, this would wait out the
        # pool's timeout and fail.
        flags = await client.get(f"/v1/studies/{STUDY}/flags",
                                 headers=api.headers("monitor"))
        assert flags.status_code == 200
        fourth = await client.get(URL, headers=api.headers("monitor"))
        assert fourth.status_code == 503 and fourth.headers["retry-after"] == "30"


async def test_a_stream_ends_by_itself_so_the_token_is_checked_again(api: Api,
                                                                      server: str) -> None:
    async with httpx.AsyncClient(base_url=server, timeout=10) as client:
        started = time.monotonic()
        async with asyncio.timeout(60), stream(client, URL, api.headers("admin")) as events:
            seen = [name async for name, _ in events]  # until the server ends the stream
        assert seen == ["hello"] and time.monotonic() - started >= 4.0

