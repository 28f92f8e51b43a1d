"""The README's first command starts everything: `relaygate serve` (what ./scripts/run execs) prints the web
console's URL, a browser's request there reaches the sign-in page, and the admin token it printed signs in."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from tests.console.helpers import hidden


def _port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    sock.close()
    return port


def _serve(tmp_path: Path) -> tuple[subprocess.Popen[str], str]:
    """Start `relaygate serve` on a fresh data directory; return the process and what it printed up to the
    console's line."""
    port, demo = _port(), _port()
    env = {**os.environ, "RELAYGATE_PORT": str(port), "RELAYGATE_DEMO_PORT": str(demo),
           "RELAYGATE_DATA_DIR": str(tmp_path), "RELAYGATE_WORKERS": "1", "RELAYGATE_LANG": "en",
           "RELAYGATE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/relaygate.db", "COLUMNS": "200", "REDIS_URL": ""}
    proc = subprocess.Popen([sys.executable, "-m", "relaygate.cli", "serve"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.time() + 60
    while time.time() < deadline and not any("Web console:" in line for line in lines):
        lines.append(proc.stdout.readline())
    return proc, "".join(lines)


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    if proc.stdout is not None:
        proc.stdout.close()


async def test_the_printed_console_url_serves_the_console_and_the_printed_token_signs_in(tmp_path: Path) -> None:
    proc, out = await asyncio.to_thread(_serve, tmp_path)
    try:
        url = re.search(r"Web console: (http://\S+/)", out)
        token = re.search(r"rga-[A-Za-z0-9_\-]{20,}", out)
        assert url and token, out
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                         headers={"Accept": "text/html"}) as s:
            ready_by = time.time() + 60
            while True:
                try:
                    async with s.get(url.group(1)) as resp:  # redirected to the sign-in page
                        page = await resp.text()
                        break
                except aiohttp.ClientConnectionError:
                    assert time.time() < ready_by and proc.poll() is None, out
                    await asyncio.sleep(0.1)
            assert resp.status == 200 and str(resp.url).endswith("/console/login?next=/console/"), resp.url
            async with s.post(url.group(1) + "console/login", data={"pre": hidden(page, "pre"), "name": "",
                                                                     "password": token.group(0)}) as resp:
                assert resp.status == 200 and "/console/login" not in str(resp.url)
                assert 'data-chart="requests"' in await resp.text()  # the overview
    finally:
        await asyncio.to_thread(_stop, proc)
