"""The monitoring page in a real headless browser (Debian's chromium driven by Playwright)
against a live API server on 127.0.0.1 and a real PostgreSQL: sign in, open a subject,
see its charts drawn from data, acknowledge and resolve a flag."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import psycopg
import pytest

from deploy.bench.seed import STUDY
from storage import stream_health
from tests.integration.api.conftest import Api
from tests.integration.api.monitoring_data import SUBJECT, write_recent_data

pytestmark = pytest.mark.integration


async def test_monitor_signs_in_sees_charts_and_works_the_flag_queue(
    api: Api, live_server: str, page: object,
) -> None:
    _, flag_id = await write_recent_data(api.dsn)
    async with await psycopg.AsyncConnection.connect(api.dsn) as conn:  # a stalled partition
        await stream_health.record(conn, app_id="w", now=datetime.now(UTC),
                                   positions={("readings.raw.v1", 2): (10, 500)},
                                   stalled={("readings.raw.v1", 2): 61.0})
        await conn.commit()
    tab = page  # playwright Page
    refused: list[str] = []  # what the page's Content-Security-Policy blocked: must be none
    tab.on("console", lambda m: refused.append(m.text)  # type: ignore[attr-defined]
           if "Content Security Policy" in m.text else None)
    await tab.goto(f"{live_server}/")  # type: ignore[attr-defined]
    assert tab.url.endswith("/monitor/")  # type: ignore[attr-defined]

    # A wrong token is refused with a message, and the form stays.
    await tab.fill("input[name=study]", STUDY)  # type: ignore[attr-defined]
    await tab.fill("input[name=token]", "tw_nope_nope")  # type: ignore[attr-defined]
    await tab.click("button[type=submit]")  # type: ignore[attr-defined]
    await tab.wait_for_selector("#error:has-text('not accepted')")  # type: ignore[attr-defined]

    await tab.fill("input[name=study]", STUDY)  # type: ignore[attr-defined]
    await tab.fill("input[name=token]", api.tokens["monitor"])  # type: ignore[attr-defined]
    await tab.click("button[type=submit]")  # type: ignore[attr-defined]

    # Study overview: both subjects, S-1 with its latest heart rate, gateway and flag.
    row = tab.locator(f"#subjects tr[data-subject='{SUBJECT}']")  # type: ignore[attr-defined]
    await row.wait_for()
    text = await row.inner_text()
    assert "/min" in text and "online" in text and "GW-1" in text and "3/4" in text
    assert await tab.locator("#subjects tbody tr").count() == 2  # type: ignore[attr-defined]
    assert await tab.locator("#error").is_hidden()  # type: ignore[attr-defined]
    assert await tab.locator(f"#flags tr[data-flag='{flag_id}']").count() == 1  # type: ignore[attr-defined]
    notice = await tab.locator("#pipeline-notice").inner_text()  # type: ignore[attr-defined]
    assert "readings.raw.v1 [2] stalled for 61 s (500 waiting)" in notice

    # Subject page: every vital's chart is drawn from buckets, the ECG strip from samples.
    await row.locator("a").click()
    for metric in ("heart_rate", "glucose", "spo2", "ecg"):
        chart = tab.locator(f".chart[data-metric='{metric}']")  # type: ignore[attr-defined]
        await chart.locator(".uplot canvas").wait_for()
        assert int(await chart.get_attribute("data-points")) > 0, metric
    heart = tab.locator(".chart[data-metric='heart_rate']")  # type: ignore[attr-defined]
    # 3 h of 10 s readings in 24 h / 300 buckets → one bucket per 5 min → ~36 points.
    assert 30 <= int(await heart.get_attribute("data-points")) <= 40
    await tab.click(".ranges button:has-text('6 h')")  # type: ignore[attr-defined]
    # 6 h / 300 → 2-min buckets → ~90 points. Polled from here: the page's CSP forbids the
    # string evaluation wait_for_function would do in it.
    async with asyncio.timeout(30):
        while int(await heart.get_attribute("data-points") or 0) <= 60:  # noqa: ASYNC110 (the page is polled)
            await asyncio.sleep(0.2)
    png = await heart.screenshot()
    assert len(png) > 2_000  # a drawn canvas, not an empty box

    # The daily completeness / wear-time chart: today (and yesterday, before 03:00 UTC).
    today = datetime.now(UTC).date().isoformat()
    day = tab.locator(f"#completeness .day[data-day='{today}']")  # type: ignore[attr-defined]
    await day.wait_for()
    assert "%" in await day.inner_text() and " h" in await day.inner_text()

    # Flag queue on the subject page: acknowledge, then resolve with a reason.
    flag_row = tab.locator(f"#flags tr[data-flag='{flag_id}']")  # type: ignore[attr-defined]
    await flag_row.locator("button:has-text('Acknowledge')").click()
    await tab.locator(f"#flags tr[data-flag='{flag_id}'] .status:has-text('acknowledged')").wait_for()  # type: ignore[attr-defined]
    flag_row = tab.locator(f"#flags tr[data-flag='{flag_id}']")  # type: ignore[attr-defined]
    await flag_row.locator("select").select_option("device_artifact")
    await flag_row.locator("input").fill("strap loose")
    await flag_row.locator("button:has-text('Resolve')").click()
    await tab.locator(f"#flags tr[data-flag='{flag_id}']").wait_for(state="detached")  # type: ignore[attr-defined]

    # The API and the audit trail agree with what the page did.
    history = (await api.client.get(f"/v1/studies/{STUDY}/flags/{flag_id}/history",
                                    headers=api.headers("admin"))).json()
    assert [(h["action"], h["reason"]) for h in reversed(history)] == [
        ("acknowledge", None), ("resolve", "device_artifact")]
    assert history[0]["details"]["note"] == "strap loose"
    assert refused == []
