"""Usage records and statements over a real socket: every filter of the usage page narrows to the right records,
pages go by id, the CSV export streams, and a statement downloads exactly as `relaygate balance statement`
writes it."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from relaygate.core.money import parse_amount
from tests.console.helpers import Browser, add_operators
from tests.harness import Running, running_gateway, start_fake

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("records")
    fake = await start_fake()
    db = f"sqlite+aiosqlite:///{tmp}/relaygate.db"
    async with running_gateway(db, data_dir=str(tmp)) as gw:
        await add_operators(gw)
        channel = await gw.add_channel(fake, "primary", ["demo-chat"])
        acme, acme_key = await gw.add_key("acme", name="acme web")
        globex, globex_key = await gw.add_key("globex", name="globex ci")
        async with aiohttp.ClientSession() as s:
            async def call(secret: str, model: str, agent: str) -> None:
                async with s.post(gw.base_url + "/chat/completions",
                                  headers={"Authorization": f"Bearer {secret}", "User-Agent": agent},
                                  json={"model": model, "messages": [{"role": "user", "content": "hi"}]}) as resp:
                    await resp.read()
            for _ in range(53):
                await call(acme, "demo-chat", "OpenAI/Python 1.54.0")
            await call(acme, "no-such-model", "OpenAI/Python 1.54.0")
            for _ in range(2):
                await call(globex, "demo-chat", "curl/8.5.0")
        await gw.gateway.ledger.record((await gw.gateway.accounts.get_key(acme_key))["owner_id"], "topup",
                                       parse_amount("12.5"), "invoice 77", "tests")
        rows = await gw.usage_rows()
        yield {"gw": gw, "db": db, "rows": rows, "channel": channel, "acme_key": acme_key,
               "globex_key": globex_key, "globex_secret": globex}
    await fake.stop()


def ids_in(html: str) -> set[str]:
    return set(re.findall(r"/console/requests/(req_[0-9a-f]+)", html))


async def test_every_filter_narrows_to_its_records_and_pages_go_by_id(site: dict[str, Any]) -> None:
    gw: Running = site["gw"]
    rows = site["rows"]
    assert len(rows) == 56
    failed = next(r for r in rows if r["status"] >= 400)
    globex = {r["request_id"] for r in rows if r["key_id"] == site["globex_key"]}
    masked = (await gw.gateway.accounts.get_key(site["globex_key"]))["masked"]
    async with Browser(gw) as b:
        await b.sign_in("sam")  # support reads records
        cases = {
            f"request_id={failed['request_id']}": {failed["request_id"]},
            f"key={site['globex_key']}": globex,
            f"key={masked}": globex,
            "owner=globex": globex,
            "model=no-such-model": {failed["request_id"]},
            f"status={failed['status']}": {failed["request_id"]},
            f"error_code={failed['error_code']}": {failed["request_id"]},
            "errors=1": {failed["request_id"]},
            "client=curl": globex,
            f"channel={site['channel']}&owner=globex": globex,
            "since=1h&owner=globex": globex,
            "until=2000-01-01": set(),
        }
        for query, expected in cases.items():
            status, html = await b.get(f"/console/usage?{query}")
            assert status == 200, query
            assert ids_in(html) == expected, query
        status, first = await b.get("/console/usage")
        assert len(ids_in(first)) == 50 and 'data-testid="older"' in first  # 50 a page, then by id
        older = re.search(r'href="(/console/usage\?[^"]*before=\d+)"', first)
        assert older is not None
        _, second = await b.get(older.group(1).replace("&amp;", "&"))
        assert len(ids_in(second)) == 6 and not ids_in(first) & ids_in(second)
        assert ids_in(first) | ids_in(second) == {r["request_id"] for r in rows}
        status, html = await b.get("/console/usage?status=abc")
        assert status == 400 and "must be a number" in html  # a clear message, never a 500


async def test_the_csv_export_streams_every_matching_record(site: dict[str, Any]) -> None:
    gw: Running = site["gw"]
    async with Browser(gw) as b:
        await b.sign_in("vic")
        async with b.session.get(b.url("/console/usage/export.csv?owner=acme")) as resp:
            assert resp.status == 200
            assert "content-length" not in resp.headers  # sent as it is read (chunked), never built whole
            assert resp.headers.get("transfer-encoding") == "chunked"
            body = await resp.text()
    table = list(csv.DictReader(io.StringIO(body)))
    assert len(table) == 54 and {r["key_id"] for r in table} == {site["acme_key"]}
    assert any(r["error_code"] == "model_not_found" for r in table)


def cli(db: str, *args: str) -> str:
    env = {**os.environ, "RELAYGATE_DATABASE_URL": db, "RELAYGATE_LANG": "en"}
    out = subprocess.run([sys.executable, "-m", "relaygate.cli", *args], capture_output=True, env=env,
                         timeout=60, check=False)  # bytes: the CSV's \r\n kept as written
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout.decode()


async def test_the_statement_downloads_exactly_as_the_cli_writes_it(site: dict[str, Any]) -> None:
    gw: Running = site["gw"]
    owner = (await gw.gateway.accounts.get_key(site["acme_key"]))["owner_id"]
    async with Browser(gw) as b:
        await b.sign_in("ada")
        for fmt in ("csv", "md"):
            window = {"from": "2026-01-01T00:00:00Z", "to": "2099-01-01T00:00:00Z"}  # the same period both ways
            async with b.session.get(b.url(f"/console/balances/{owner}/statement.{fmt}"), params=window,
                                     headers={"Accept-Language": "en"}) as resp:
                assert resp.status == 200
                page = await resp.text()
            printed = await asyncio.to_thread(cli, site["db"], "balance", "statement", "acme", "--format", fmt,
                                          "--from", window["from"], "--to", window["to"])
            assert page.rstrip("\n") == printed.rstrip("\n"), fmt
            assert "invoice 77" in page
        _, html = await b.get("/console/balances?check=1")
        result = html.split('data-testid="reconcile-result"')[1].split("</p>")[0]
        assert 'class="ok"' in result and 'class="error"' not in result  # reconciles, as `balance check` says


async def test_the_overview_counts_what_relaygate_stats_counts(site: dict[str, Any]) -> None:
    """The overview reads the rollups; `relaygate stats` reads the records: the same requests and errors."""
    import json

    from relaygate.services.operate.rollups import Rollups

    gw: Running = site["gw"]
    await Rollups(gw.gateway.engine).refresh()  # what the usage-rollups task does every few seconds
    stats = json.loads(await asyncio.to_thread(cli, site["db"], "stats", "--days", "7", "--json"))
    async with Browser(gw) as b:
        await b.sign_in("vic")
        _, html = await b.get("/console/?range=7d")
    requests = int(re.search(r'data-testid="total-requests">(\d+)<', html).group(1))  # type: ignore[union-attr]
    assert requests == stats["requests"] == 56
    rate = re.search(r'data-testid="error-rate">([\d.]+)%<', html)
    assert rate is not None and rate.group(1) == f"{100 * stats['errors'] / stats['requests']:.1f}"
    assert stats["errors"] == 1


async def test_a_keys_page_shows_its_own_requests_and_spend_and_disabling_it_stops_it(site: dict[str, Any]) -> None:
    from relaygate.services.operate.rollups import Rollups

    gw: Running = site["gw"]
    await Rollups(gw.gateway.engine).refresh()
    globex = {r["request_id"] for r in site["rows"] if r["key_id"] == site["globex_key"]}
    async with Browser(gw) as b:
        await b.sign_in("ada")
        _, html = await b.get(f"/console/keys/{site['globex_key']}")
        assert ids_in(html) == globex  # its own recent requests, no other key's
        spend = re.search(r'data-testid="key-requests">(\d+)<', html)
        assert spend is not None and int(spend.group(1)) == len(globex)  # its own 30-day figures
        secret = site["globex_secret"]
        status, _ = await b.post(f"/console/keys/{site['globex_key']}/toggle", {"reason": "left the company"})
        assert status == 200
        async with aiohttp.ClientSession() as s, s.post(
                gw.base_url + "/chat/completions", headers={"Authorization": f"Bearer {secret}"},
                json={"model": "demo-chat", "messages": [{"role": "user", "content": "hi"}]}) as resp:
            assert resp.status == 401  # refused at once
        await b.post(f"/console/keys/{site['globex_key']}/toggle", {})
        async with aiohttp.ClientSession() as s, s.post(
                gw.base_url + "/chat/completions", headers={"Authorization": f"Bearer {secret}"},
                json={"model": "demo-chat", "messages": [{"role": "user", "content": "hi"}]}) as resp:
            assert resp.status == 200
        _, audit = await b.get("/console/audit?action=key.")
        assert "key.disable" in audit and "key.enable" in audit and "left the company" in audit

