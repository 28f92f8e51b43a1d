"""The console's media task pages in a real browser (Chromium via Playwright), in English and Chinese: the
list filtered by state, model and owner, a task's page with every support field (never the upstream's key or
address), and the support desk answering from a task id, including the id New API gave a taken-over task.
With RELAYGATE_CONSOLE_SCREENSHOTS=docs/console the run refreshes the screenshots docs/console.md shows."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import openai
import pytest
import pytest_asyncio
from aiohttp import web

from relaygate.core.clock import now_ms
from relaygate.core.money import parse_amount
from relaygate.store import tables as t
from tests.console.browser import sign_in
from tests.console.conftest import needs_browser, shot_path
from tests.console.helpers import add_operators
from tests.harness import plan, running_gateway, start_fake
from tests.media.conftest import MEDIA_SETTINGS, MediaWorld, setup_world

pytestmark = [needs_browser, pytest.mark.asyncio(loop_scope="module"),
              pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")]
OLD_ID = "task_" + "K" * 32  # the id New API gave the client of the taken-over task


async def receiver() -> tuple[web.AppRunner, str]:
    """A callback receiver that refuses twice, then accepts."""
    seen: list[int] = []

    async def hook(request: web.Request) -> web.Response:
        await request.read()
        seen.append(1)
        return web.Response(status=500 if len(seen) <= 2 else 204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/hook?token=receiver-secret"


async def wait_state(world: MediaWorld, task_id: str, *states: str) -> Any:
    return await world.until(task_id, *states)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[MediaWorld, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("tasks")
    fake = await start_fake()
    runner, hook = await receiver()
    async with running_gateway(f"sqlite+aiosqlite:///{tmp}/relaygate.db", data_dir=str(tmp),
                               unpriced_models="refuse", **{**MEDIA_SETTINGS, "media_poll_seconds": 0.05}) as gw:
        await add_operators(gw)
        world = await setup_world(gw, fake)
        api = openai.AsyncOpenAI(base_url=gw.base_url, api_key=world.secret, max_retries=0)
        ids: dict[str, str] = {}
        await plan(fake, "video:sora-2", {"kind": "video", "delay": 0.2, "seconds": 8})
        ok = await api.videos.create(model="sora-2", prompt="waves at dusk", seconds="8",
                                     extra_body={"callback_url": hook})
        await plan(fake, "video:sora-2", {"kind": "video", "delay": 0.2, "outcome": "moderation"})
        ids["failed"] = (await api.videos.create(model="sora-2", prompt="x")).id
        await plan(fake, "video:sora-2", {"kind": "video", "outcome": "never"})
        ids["running"] = (await api.videos.create(model="sora-2", prompt="a long one", seconds="12")).id
        ids["ok"] = ok.id
        await wait_state(world, ids["ok"], "succeeded")
        assert (await api.videos.download_content(ids["ok"])).content.startswith(b"RGDEMO-MP4:")
        await api.close()
        await wait_state(world, ids["failed"], "failed")
        await wait_state(world, ids["running"], "running")
        await wait_state(world, ids["ok"], "succeeded")
        for _ in range(200):  # the third delivery is accepted after 1 s + 2 s of back-off
            if (await world.task(ids["ok"])).callback_state == "delivered":
                break
            await asyncio.sleep(0.05)
        now = now_ms()
        channel = next(c for c in gw.gateway.state.snapshot.channels.values() if c.protocol == "kling")
        async with gw.gateway.engine.begin() as conn:  # a New API task taken over at `migrate import`, failed
            await conn.execute(t.media_tasks.insert().values(
                id="task_nat7", request_id="imp:na:t7", owner_id=world.owner_id, key_id=world.key_id,
                masked_key="sk-abcd…wxyz", group_name="default", model="kling-v1", kind="video", surface="kling",
                protocol="kling", channel_id=channel.id, upstream_task_id="kling_0042", state="failed",
                upstream_started=True, progress=60, params={"action": "text2video", "imported": {
                    "system": "newapi", "system_name": "New API", "table": "tasks", "row": 7, "quota": "100000",
                    "funding": "wallet"}}, callback_state="none", callback_attempts=0, download_state="none",
                hold=0, cost=0, error_code="upstream_task_failed", error_message="failed upstream (scripted)",
                units={"unit": "call", "variant": "*", "count": 1}, created_at=now - 60_000, updated_at=now,
                finished_at=now, expires_at=now + 600_000, poll_failures=0, source_id=OLD_ID,
                prepaid=parse_amount("0.20")))
            await conn.execute(t.ledger_entries.insert().values(
                owner_id=world.owner_id, key_id=world.key_id, kind="refund", amount=parse_amount("0.20"), held=0,
                request_id="imp:na:t7", model="kling-v1", actor="gateway", ref="task_nat7", created_at=now,
                reason="failed upstream (scripted); New API's pre-charge of 100000 quota units, $0.20 refunded"))
        yield world, ids
    await runner.cleanup()
    await fake.stop()


async def test_the_task_list_filters_and_a_task_shows_every_support_field(site: Any, tabs: Any,
                                                                         tmp_path: Path) -> None:
    world, ids = site
    for lang in ("en", "zh-CN"):
        tab = await tabs(world.root, lang)
        await sign_in(tab, "vic")  # a viewer reads tasks too
        await tab.go("/console/tasks")
        rows = tab.page.locator("[data-testid=task-rows] tr")
        assert await rows.count() == 5  # header + 4 tasks
        await shoot(tab, "tasks", lang, tmp_path)
        await tab.page.select_option("[data-testid=state-filter]", "failed")
        await tab.page.click("[data-testid=task-filters] button[type=submit]")
        await tab.page.wait_for_load_state("networkidle")
        text = await tab.page.locator("[data-testid=task-rows]").inner_text()
        assert ids["failed"] in text and "task_nat7" in text and ids["ok"] not in text and ids["running"] not in text
        await tab.go("/console/tasks?model=sora-2&owner=studio&imported=0&state=running")
        text = await tab.page.locator("[data-testid=task-rows]").inner_text()
        assert ids["running"] in text and ids["failed"] not in text
        await tab.go(f"/console/tasks/{ids['ok']}")
        page = await tab.page.content()
        row = await world.task(ids["ok"])
        assert row.upstream_task_id in page and "$0.80" in page  # 8 s at $0.10, as the upstream reported
        assert ("downloaded 1×" if lang == "en" else "已下载 1 次") in \
            await tab.page.locator("[data-testid=task-result]").inner_text()
        deliveries = tab.page.locator("[data-testid=task-deliveries] tr")
        assert await deliveries.count() == 4  # header + 500, 500, 204
        assert "receiver-secret" not in page and str(world.fake.port) not in page  # no URL, no upstream address
        assert "sk-upstream-test-secret" not in page and "access-key" not in page and "secret-key" not in page
        await shoot(tab, "task", lang, tmp_path)
        await tab.go(f"/console/tasks?q={OLD_ID}")  # found by the id New API gave its client
        await tab.page.click("text=task_nat7")
        verdict = await tab.page.locator("[data-testid=task-verdict]").inner_text()
        assert ("New API" in verdict) and ("0.20" in verdict)
        tab.assert_clean()
        await tab.page.context.close()


async def test_the_support_desk_answers_from_a_task_id(site: Any, tabs: Any, tmp_path: Path) -> None:
    world, ids = site
    tab = await tabs(world.root)
    await sign_in(tab, "sam")
    await tab.go(f"/console/support?q={OLD_ID}&reply=zh-CN")
    assert "task_nat7" in await tab.page.locator("[data-testid=diagnosed-task]").inner_text()
    reply = await tab.page.locator("[data-testid=reply]").inner_text()
    assert OLD_ID in reply and "已退还" in reply
    await tab.go(f"/console/support?q={ids['failed']}&reply=en")
    assert "full key" not in await tab.page.locator("[data-testid=diagnosis]").inner_text()
    assert "moderation" in await tab.page.locator("[data-testid=cause]").inner_text()
    assert "not charged" in await tab.page.locator("[data-testid=cause]").inner_text()
    await shoot(tab, "support-task", "en", tmp_path)
    tab.assert_clean()
    await tab.refused("/console/support?q=task_nope", 404)  # a clear message, not a crash
    assert "task_nope" in await tab.page.content()


async def shoot(tab: Any, name: str, lang: str, tmp: Path) -> None:
    await tab.page.screenshot(path=str(shot_path(name, lang, tmp)), full_page=True)
