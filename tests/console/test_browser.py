"""The console in a real browser (Chromium via Playwright): what an operator and a support teammate do.

One gateway and one browser for the module; each test opens its own context. Every page is checked
for JavaScript errors and CSP violations. With RELAYGATE_CONSOLE_SCREENSHOTS=docs/console the run
refreshes the screenshots docs/console.md shows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from relaygate.fakeupstream import FakeUpstream
from tests.console.browser import Tab, open_tab, sign_in
from tests.console.conftest import needs_browser, shot_path
from tests.console.helpers import add_operators
from tests.harness import Running, running_gateway, start_fake

pytestmark = [needs_browser, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Running, FakeUpstream]]:
    tmp = tmp_path_factory.mktemp("console")
    fake = await start_fake()
    async with running_gateway(f"sqlite+aiosqlite:///{tmp}/relaygate.db", data_dir=str(tmp),
                               rollup_seconds=0.2) as gw:
        await add_operators(gw)
        await gw.add_channel(fake, "primary", ["demo-chat"])
        secret, _ = await gw.add_key("acme", name="acme web")
        async with aiohttp.ClientSession() as s:
            for i in range(3):
                await s.post(gw.base_url + "/chat/completions", headers={"Authorization": f"Bearer {secret}"},
                             json={"model": "demo-chat", "messages": [{"role": "user", "content": f"hi {i}"}]})
            await s.post(gw.base_url + "/chat/completions", headers={"Authorization": f"Bearer {secret}"},
                         json={"model": "no-such-model", "messages": [{"role": "user", "content": "x"}]})
        await gw.gateway.usage.flush()
        yield gw, fake
    await fake.stop()


async def shoot(tab: Tab, name: str, lang: str, tmp: Path) -> None:
    await tab.page.screenshot(path=str(shot_path(name, lang, tmp)), full_page=True)


async def test_sign_in_and_see_the_overview_with_charts(site: Any, chromium: Any, tmp_path: Path) -> None:
    gw, _ = site
    tab = await open_tab(chromium, gw.root)
    await tab.go("/")
    assert "/console/login" in tab.page.url
    await shoot(tab, "login", "en", tmp_path)
    await sign_in(tab, "ada")
    await tab.page.wait_for_selector("[data-chart=requests] canvas")
    assert await tab.page.locator("[data-testid=who]").inner_text() == "ada · admin"
    await shoot(tab, "overview", "en", tmp_path)
    tab.assert_clean()


async def test_add_a_channel_and_test_it(site: Any, chromium: Any, tmp_path: Path) -> None:
    gw, fake = site
    tab = await open_tab(chromium, gw.root)
    await sign_in(tab, "ada")
    await tab.go("/console/channels")
    page = tab.page
    await page.fill("#add input[name=name]", "backup")
    await page.fill("#add input[name=base_url]", fake.base_url)
    await page.fill("#add textarea[name=secrets]", "sk-upstream-backup-secret-0002")
    await page.fill("#add textarea[name=models]", "demo-chat")
    await page.click("#add button[type=submit]")
    await page.wait_for_selector("[data-testid=created]")
    await page.click("[data-testid=test-backup]")
    await page.wait_for_selector("[data-testid=test-ok]")
    assert "sk-upstream-backup-secret-0002" not in await page.content()
    await tab.go("/console/channels")
    await shoot(tab, "channels", "en", tmp_path)
    tab.assert_clean()


async def test_switch_the_language_and_it_is_remembered(site: Any, chromium: Any, tmp_path: Path) -> None:
    gw, _ = site
    tab = await open_tab(chromium, gw.root)
    await sign_in(tab, "ada")
    await tab.page.click("[data-lang-switch=zh-CN]")
    await tab.page.wait_for_load_state("networkidle")
    assert await tab.page.locator("nav.main a.active").inner_text() == "概览"
    await tab.go("/console/channels")
    assert "添加渠道" in await tab.page.content()
    await tab.page.wait_for_selector("text=渠道")
    await shoot(tab, "channels", "zh-CN", tmp_path)
    await tab.go("/console/")
    await tab.page.wait_for_selector("[data-chart=requests] canvas")
    await shoot(tab, "overview", "zh-CN", tmp_path)
    tab.assert_clean()
