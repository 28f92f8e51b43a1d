"""Browser tabs that fail the test on any JavaScript error, uncaught page error or CSP violation.

Every visit (``Tab.go``) checks what the page logged while it loaded; the ``tabs`` fixture in conftest.py
opens tabs for a test and fails it at teardown on anything logged after the last visit (a click, an htmx
swap). A page a test expects to be refused is visited with ``Tab.refused``, which accepts only the
browser's own "Failed to load resource" line for that one document.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.console.helpers import PASSWORD


@dataclass
class Tab:
    page: Any
    root: str
    errors: list[str] = field(default_factory=list)
    checked: int = 0  # errors already reported by a visit

    async def go(self, path: str) -> None:
        await self.page.goto(self.root + path)
        await self.page.wait_for_load_state("networkidle")
        self.assert_clean(path)

    async def refused(self, path: str, status: int) -> None:
        """Visit a page the server must refuse with ``status``; its one resource error is expected."""
        before = len(self.errors)
        response = await self.page.goto(self.root + path)
        assert response is not None and response.status == status, (path, response and response.status)
        await self.page.wait_for_load_state("networkidle")
        expected = f"status of {status}"
        self.errors[before:] = [e for e in self.errors[before:] if not
                                (e.startswith("Failed to load resource") and expected in e and path in e)]
        self.assert_clean(path)

    def assert_clean(self, where: str = "") -> None:
        assert not self.errors, f"browser console errors{' on ' + where if where else ''}: {self.errors}"


def _console(tab: Tab, message: Any) -> None:
    text = message.text
    if message.type == "error" or "Content Security Policy" in text:
        url = (message.location or {}).get("url", "")
        tab.errors.append(f"{text} [{url}]" if url else text)


async def open_tab(browser: Any, root: str, lang: str = "en") -> Tab:
    context = await browser.new_context(locale=lang, extra_http_headers={"Accept-Language": lang},
                                        viewport={"width": 1280, "height": 900})
    await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=root)
    page = await context.new_page()
    tab = Tab(page, root)
    page.on("console", lambda m: _console(tab, m))
    page.on("pageerror", lambda e: tab.errors.append(f"page error: {e}"))
    return tab


async def sign_in(tab: Tab, name: str, password: str = PASSWORD) -> None:
    await tab.go("/console/login")
    await tab.page.fill("input[name=name]", name)
    await tab.page.fill("input[name=password]", password)
    await tab.page.click("button[type=submit]")
    await tab.page.wait_for_load_state("networkidle")
    tab.assert_clean("/console/login (signed in)")
