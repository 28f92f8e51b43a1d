"""A signed-in page that fails the test on any JavaScript error or CSP violation in the browser console."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.console.helpers import PASSWORD


@dataclass
class Tab:
    page: Any
    root: str
    errors: list[str] = field(default_factory=list)

    async def go(self, path: str) -> None:
        await self.page.goto(self.root + path)
        await self.page.wait_for_load_state("networkidle")

    def assert_clean(self) -> None:
        assert not self.errors, f"browser console errors: {self.errors}"


async def open_tab(browser: Any, root: str, lang: str = "en") -> Tab:
    context = await browser.new_context(locale=lang, extra_http_headers={"Accept-Language": lang},
                                        viewport={"width": 1280, "height": 900})
    await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=root)
    page = await context.new_page()
    tab = Tab(page, root)
    page.on("console", lambda m: tab.errors.append(m.text) if m.type in ("error", "warning") and
            ("Content Security Policy" in m.text or m.type == "error") else None)
    page.on("pageerror", lambda e: tab.errors.append(str(e)))
    return tab


async def sign_in(tab: Tab, name: str, password: str = PASSWORD) -> None:
    await tab.go("/console/login")
    await tab.page.fill("input[name=name]", name)
    await tab.page.fill("input[name=password]", password)
    await tab.page.click("button[type=submit]")
    await tab.page.wait_for_load_state("networkidle")
