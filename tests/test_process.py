"""The real `relaygate serve` process: first start, several workers, revocation, graceful drain."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.harness import free_socket


def _port() -> int:
    sock = free_socket()
    port = int(sock.getsockname()[1])
    sock.close()
    return port


Served = tuple[subprocess.Popen[str], int, str, str, Path]


@pytest.fixture
def served(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Served]:
    workers = getattr(request, "param", 1)
    port, demo = _port(), _port()
    env = {**os.environ, "RELAYGATE_PORT": str(port), "RELAYGATE_DEMO_PORT": str(demo),
           "RELAYGATE_DATA_DIR": str(tmp_path), "RELAYGATE_WORKERS": str(workers),
           "RELAYGATE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/relaygate.db", "COLUMNS": "200",
           "REDIS_URL": os.environ.get("RELAYGATE_TEST_REDIS_URL", "") if workers > 1 else ""}
    proc = subprocess.Popen([sys.executable, "-m", "relaygate.cli", "serve"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=tmp_path)
    assert proc.stdout is not None
    lines = []
    deadline = time.time() + 30
    while time.time() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if "listens on" in line:
            break
    out = "".join(lines)
    key = re.search(r"sk-[A-Za-z0-9]{48}", out)
    token = re.search(r"rga-[A-Za-z0-9_\-]{20,}", out)
    assert key and token, out
    import urllib.request

    ready_by = time.time() + 90  # every worker imports and starts on its own: slow on a busy 2-core machine
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=0.5)
            break
        except OSError:
            assert time.time() < ready_by and proc.poll() is None, "relaygate serve did not become ready"
            time.sleep(0.05)
    yield proc, port, key.group(0), token.group(0), tmp_path
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    proc.stdout.close()


async def _chat(port: int, key: str) -> int:
    async with aiohttp.ClientSession() as s:  # new connection each time: spreads over workers
        async with s.post(f"http://127.0.0.1:{port}/v1/chat/completions",
                          json={"model": "demo-chat", "messages": [{"role": "user", "content": "hi"}]},
                          headers={"Authorization": f"Bearer {key}"}) as resp:
            await resp.read()
            return resp.status


@pytest.mark.parametrize("served", [2], indirect=True)
@pytest.mark.skipif(not os.environ.get("RELAYGATE_TEST_REDIS_URL"),
                    reason="several workers need Redis: set RELAYGATE_TEST_REDIS_URL=redis://127.0.0.1:6379/15")
async def test_disabled_key_stops_within_5s_on_every_worker(served: Served) -> None:
    _, port, key, token, _ = served
    statuses = await asyncio.gather(*[_chat(port, key) for _ in range(20)])
    assert set(statuses) == {200}
    async with aiohttp.ClientSession() as s:
        async with s.get(f"http://127.0.0.1:{port}/api/keys", headers={"Authorization": f"Bearer {token}"}) as r:
            key_id = (await r.json())[0]["id"]
        async with s.patch(f"http://127.0.0.1:{port}/api/keys/{key_id}", json={"enabled": False},
                           headers={"Authorization": f"Bearer {token}"}) as r:
            assert r.status == 200
    started = time.monotonic()
    while True:
        statuses = await asyncio.gather(*[_chat(port, key) for _ in range(10)])
        if set(statuses) == {401}:
            break
        assert time.monotonic() - started < 5, statuses
        await asyncio.sleep(0.1)


def test_sigterm_drains_every_usage_record(served: Served) -> None:
    proc, port, key, _, tmp = served

    async def burst() -> list[int]:
        return await asyncio.gather(*[_chat(port, key) for _ in range(60)])

    statuses = asyncio.run(burst())
    assert statuses.count(200) == 60
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after a clean stop
    with sqlite3.connect(tmp / "relaygate.db") as db:
        count = db.execute("select count(*) from usage_records where status = 200").fetchone()[0]
    assert count == 60


def test_one_worker_serves_from_a_fresh_interpreter_without_the_cli(served: Served) -> None:
    """`serve` execs the server after preparing the database: same process, none of the CLI's imports
    (Typer, Click, Rich: about 10 MB at rest, issue 17)."""
    proc, port, key, _, _ = served
    cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
    assert b"relaygate.web.server" in cmdline and b"relaygate.cli" not in cmdline, cmdline
    assert asyncio.run(_chat(port, key)) == 200


def test_several_workers_without_a_shared_store_are_refused(tmp_path: Path) -> None:
    env = {**os.environ, "RELAYGATE_WORKERS": "2", "REDIS_URL": "", "RELAYGATE_DATA_DIR": str(tmp_path),
           "RELAYGATE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/relaygate.db", "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-m", "relaygate.cli", "serve"], env=env, capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 2 and "REDIS_URL" in done.stdout
