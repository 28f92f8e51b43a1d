"""Signing in to the console over a real socket, as a browser would (cookies, the sign-in form's token)."""

from __future__ import annotations

import re
from typing import Any

import aiohttp

from tests.harness import Running

PASSWORD = "correct horse battery"


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no hidden field {name}"
    return match.group(1)


class Browser:
    """An aiohttp session with a cookie jar that accepts the 127.0.0.1 cookies (unsafe=True: an IP host)."""

    def __init__(self, gw: Running) -> None:
        self.gw = gw
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                             headers={"Accept": "text/html"})
        self.csrf = ""

    async def __aenter__(self) -> Browser:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.session.close()

    def url(self, path: str) -> str:
        return self.gw.root + path

    async def sign_in(self, name: str, password: str = PASSWORD) -> aiohttp.ClientResponse:
        async with self.session.get(self.url("/console/login")) as resp:
            pre = hidden(await resp.text(), "pre")
        resp = await self.session.post(self.url("/console/login"), data={"pre": pre, "name": name,
                                                                           "password": password,
                                                                           "next": "/console/"})
        text = await resp.text()
        if resp.status == 200 and 'name="csrf"' in text:
            self.csrf = hidden(text, "csrf")
        return resp

    async def get(self, path: str, **kw: Any) -> tuple[int, str]:
        async with self.session.get(self.url(path), **kw) as resp:
            return resp.status, await resp.text()

    async def post(self, path: str, data: dict[str, str] | None = None, csrf: bool = True,
                   **kw: Any) -> tuple[int, str]:
        form = dict(data or {})
        if csrf:
            form["csrf"] = self.csrf
        async with self.session.post(self.url(path), data=form, **kw) as resp:
            return resp.status, await resp.text()


async def add_operators(gw: Running) -> None:
    from relaygate.services.operate.operators import OperatorsAdmin

    ops = OperatorsAdmin(gw.gateway.engine)
    for name, role in (("ada", "admin"), ("sam", "support"), ("vic", "viewer")):
        await ops.add(name, role, PASSWORD)
