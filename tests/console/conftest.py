"""Browser fixtures: one gateway and one Chromium per test module (Debian's chromium, never a download)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

CHROMIUM = os.environ.get("RELAYGATE_TEST_CHROMIUM", "/usr/bin/chromium")
SHOTS = os.environ.get("RELAYGATE_CONSOLE_SCREENSHOTS", "")  # e.g. docs/console: refresh the doc's images


def have_browser() -> bool:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return False
    return bool(shutil.which(CHROMIUM) or Path(CHROMIUM).exists())


needs_browser = pytest.mark.skipif(not have_browser(), reason=(
    "needs Python playwright and Debian's chromium (apt-get install -y chromium; .ci/run installs both)"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def chromium() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        await browser.close()


@pytest_asyncio.fixture(loop_scope="module")
async def tabs(chromium: Any) -> AsyncIterator[Callable[..., Awaitable[Any]]]:
    """Open browser tabs for one test: each visit fails on a JavaScript error or CSP report (``Tab.go``), and
    at the end of the test anything a tab logged after its last visit fails it too."""
    from tests.console.browser import Tab, open_tab

    opened: list[Tab] = []

    async def open_(root: str, lang: str = "en") -> Tab:
        tab = await open_tab(chromium, root, lang)
        opened.append(tab)
        return tab

    yield open_
    for tab in opened:
        await tab.page.context.close()
    left = [error for tab in opened for error in tab.errors]
    assert not left, f"browser console errors: {left}"


def shot_path(name: str, lang: str, tmp: Path) -> Path:
    folder = Path(SHOTS) if SHOTS else tmp
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}-{lang}.png"
