"""Two gateway processes sharing PostgreSQL and Redis never allow twice the budget or twice the rate."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from relaygate.core.secrets import new_key
from relaygate.fakeupstream import FakeUpstream
from tests.dbreset import reset_database
from tests.harness import PG_URL, free_socket

REDIS_URL = os.environ.get("RELAYGATE_TEST_REDIS_URL", "")
pytestmark = pytest.mark.skipif(
    not (PG_URL and REDIS_URL),
    reason="needs RELAYGATE_TEST_POSTGRES_URL and RELAYGATE_TEST_REDIS_URL (.ci/run sets both)")


def _port() -> int:
    sock = free_socket()
    port = int(sock.getsockname()[1])
    sock.close()
    return port


SHARED_KEY = new_key()  # machines that share a database share the key of its channel secrets (docs/secrets.md)


def _start(tmp: Path, port: int) -> subprocess.Popen[str]:
    env = {**os.environ, "RELAYGATE_PORT": str(port), "RELAYGATE_DATABASE_URL": PG_URL, "REDIS_URL": REDIS_URL,
           "RELAYGATE_DEMO_UPSTREAM": "false", "RELAYGATE_DATA_DIR": str(tmp / str(port)), "COLUMNS": "200",
           "RELAYGATE_CONFIG_POLL_SECONDS": "0.2", "RELAYGATE_SECRETS_KEY": SHARED_KEY}
    return subprocess.Popen([sys.executable, "-m", "relaygate.cli", "serve"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=tmp)


async def _wait(port: int) -> None:
    async with aiohttp.ClientSession() as s:
        for _ in range(300):
            try:
                async with s.get(f"http://127.0.0.1:{port}/healthz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                await asyncio.sleep(0.05)
    raise AssertionError(f"gateway on {port} did not start")


async def test_two_processes_share_budget_and_limits(tmp_path: Path) -> None:
    await reset_database(PG_URL)
    fake = FakeUpstream()
    await fake.start()
    a_port, b_port = _port(), _port()
    a = _start(tmp_path, a_port)
    procs = [a]
    try:
        out = ""
        assert a.stdout is not None
        deadline = time.time() + 30
        while "listens on" not in out and time.time() < deadline:
            out += a.stdout.readline()
        token = re.search(r"rga-[A-Za-z0-9_\-]{20,}", out)
        assert token, out
        await _wait(a_port)
        b = _start(tmp_path, b_port)
        procs.append(b)
        await _wait(b_port)
        admin = {"Authorization": f"Bearer {token.group(0)}"}
        async with aiohttp.ClientSession(headers=admin) as s:
            base = f"http://127.0.0.1:{a_port}/api"
            await s.post(f"{base}/channels", json={"name": "up", "base_url": fake.base_url,
                                                  "secrets": ["sk-up-000000000001"], "models": ["paid"]})
            r = await s.put(f"{base}/prices/paid", json={"per_request": "0.01"})
            assert r.status == 200, await r.text()
            await s.post(f"{base}/owners", json={"name": "shared"})
            r = await s.post(f"{base}/balances/shared/topup", json={"amount": "0.10", "reason": "test"})
            assert r.status == 201, await r.text()
            r = await s.post(f"{base}/keys", json={"name": "k", "owner": "shared"})
            secret = (await r.json())["secret"]
        await asyncio.sleep(1.0)  # both processes poll the config and the ledger

        async def call(port: int) -> int:
            async with aiohttp.ClientSession() as s:
                async with s.post(f"http://127.0.0.1:{port}/v1/chat/completions",
                                  json={"model": "paid", "messages": [{"role": "user", "content": "x"}]},
                                  headers={"Authorization": f"Bearer {secret}"}) as r:
                    await r.read()
                    return r.status

        statuses = await asyncio.gather(*[call(a_port if i % 2 else b_port) for i in range(40)])
        assert statuses.count(200) == 10 and statuses.count(402) == 30  # $0.10 buys ten $0.01 calls, once
        assert len(fake.state.requests) == 10

        # rpm across both processes is a sliding window: ten a minute, whichever process answers
        async with aiohttp.ClientSession(headers=admin) as s:
            r = await s.post(f"{base}/balances/shared/topup", json={"amount": "1.00", "reason": "test"})
            assert r.status == 201, await r.text()
            r = await s.patch(f"{base}/groups/default/terms", json={"rpm": 10})
            assert r.status == 200, await r.text()
        await asyncio.sleep(1.0)
        statuses = await asyncio.gather(*[call(a_port if i % 2 else b_port) for i in range(30)])
        assert statuses.count(200) == 10 and statuses.count(429) == 20, statuses
        await asyncio.sleep(6.5)  # a bucket refilling 10 a minute would let one more through by now
        statuses = await asyncio.gather(*[call(a_port if i % 2 else b_port) for i in range(6)])
        assert statuses == [429] * 6

        # token prices: 40 concurrent requests on both processes against a balance of about eight holds
        async with aiohttp.ClientSession(headers=admin) as s:
            r = await s.patch(f"{base}/groups/default/terms", json={"clear": ["rpm"]})
            assert r.status == 200, await r.text()
            r = await s.put(f"{base}/prices/paid", json={"input_per_m": "100", "output_per_m": "100"})
            assert r.status == 200, await r.text()
        await asyncio.sleep(1.0)

        async def tokens(port: int) -> int:
            async with aiohttp.ClientSession() as s:
                async with s.post(f"http://127.0.0.1:{port}/v1/chat/completions",
                                  json={"model": "paid", "max_tokens": 1000,
                                        "messages": [{"role": "user", "content": "count me " * 20}]},
                                  headers={"Authorization": f"Bearer {secret}"}) as r:
                    await r.read()
                    return r.status

        statuses = await asyncio.gather(*[tokens(a_port if i % 2 else b_port) for i in range(40)])
        assert statuses.count(200) >= 5 and statuses.count(402) >= 1 and set(statuses) <= {200, 402}, statuses
        async with aiohttp.ClientSession(headers=admin) as s:
            for port in (a_port, b_port):
                for _ in range(100):  # usage records and ledger rows are written in batches
                    async with s.get(f"http://127.0.0.1:{port}/api/balances/shared") as r:
                        view = await r.json()
                    if view["live"]["balance"] == view["balance"] and float(view["held"]) == 0:
                        break
                    await asyncio.sleep(0.2)
                # the bound of docs/billing.md: holds reserved atomically in Redis before each call, so
                # the shared live balance never goes below zero and nothing stays held
                assert float(view["live"]["balance"]) >= 0 and float(view["live"]["held"]) == 0, view
                assert float(view["balance"]) >= 0 and float(view["held"]) == 0, view
                assert view["live"]["balance"] == view["balance"], view
            async with s.get(f"{base}/balances/check") as r:
                assert r.status == 200, await r.text()
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=30)
            if proc.stdout:
                proc.stdout.close()
        await fake.stop()
