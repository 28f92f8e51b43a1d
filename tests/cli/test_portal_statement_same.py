"""My balance shows "the same figures as `balance statement`": a key holder's statement over the API, over a session
token and as the portal's download is, byte for byte, what an operator's `relaygate balance statement` prints
for the same owner and period (top-up, redemption, adjustment with their reasons, usage per day, model, key)."""

from __future__ import annotations

import asyncio
import datetime
import json
from pathlib import Path
from typing import Any

import aiohttp

from relaygate.core.money import parse_amount
from relaygate.services.operate.codes import RedemptionCodes
from tests.cli.conftest import Invoke
from tests.console.helpers import Browser, hidden
from tests.harness import running_gateway, start_fake

FROM = "2020-01-01"
TO = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=2)).strftime("%Y-%m-%d")


async def _portal_side(db_file: Path, tmp_path: Path) -> dict[str, Any]:
    fake = await start_fake()
    try:
        async with running_gateway(f"sqlite+aiosqlite:///{db_file}", data_dir=str(tmp_path)) as gw:
            await gw.add_channel(fake, "up", ["demo-chat"])
            await gw.gateway.pricing.set_price("demo-chat", input_per_m="2", output_per_m="8")
            secret, _ = await gw.add_key("stella", name="stella laptop")
            await gw.gateway.ledger.record("stella", "topup", parse_amount("9"), "invoice 12", "tests")
            await gw.gateway.ledger.record("stella", "adjustment", parse_amount("-1"), "goodwill reversed", "tests")
            await gw.gateway.balance_sync.apply_credits()
            batch = await RedemptionCodes(gw.gateway.engine, "USD").create_batch("spring", parse_amount("2"), 1, None,
                                                                                  "tests")
            await gw.gateway.portal.users.add("stella", "stella", "stella-password-1")  # type: ignore[union-attr]
            key = {"Authorization": f"Bearer {secret}"}
            out: dict[str, Any] = {}
            async with aiohttp.ClientSession() as s:
                for _ in range(2):
                    async with s.post(gw.base_url + "/chat/completions", headers=key,
                                      json={"model": "demo-chat", "messages": [{"role": "user", "content": "hi"}]}):
                        pass
                async with s.post(gw.root + "/api/user/redeem", headers=key,
                                  json={"code": batch["codes"][0]}) as resp:
                    assert resp.status == 200
                await gw.gateway.usage.flush()
                async with s.post(gw.root + "/api/user/session",
                                  json={"username": "stella", "password": "stella-password-1"}) as resp:
                    session = {"Authorization": f"Bearer {(await resp.json())['token']}"}
                for fmt in ("json", "md", "csv"):
                    for who, headers in (("key", key), ("session", session)):
                        async with s.get(gw.root + "/api/user/statement", headers=headers,
                                         params={"from": FROM, "to": TO, "format": fmt}) as resp:
                            assert resp.status == 200
                            out[f"{who}.{fmt}"] = await resp.text()
            async with Browser(gw) as b:
                async with b.session.get(b.url("/portal/login")) as resp:
                    pre = hidden(await resp.text(), "pre")
                async with b.session.post(b.url("/portal/login"), data={"pre": pre, "name": "stella",
                                                                       "password": "stella-password-1"}) as resp:
                    assert resp.status == 200
                out["page.md"] = (await b.get("/portal/statement.md"))[1]
            return out
    finally:
        await fake.stop()


def test_the_key_holders_statement_is_the_operators_statement(cli: Invoke, db_file: Path, tmp_path: Path) -> None:
    cli("groups", "list")  # the schema
    seen = asyncio.run(_portal_side(db_file, tmp_path))
    printed = {fmt: cli("balance", "statement", "stella", "--format", fmt, "--from", FROM, "--to", TO).stdout
               for fmt in ("json", "md", "csv")}
    for who in ("key", "session"):
        assert json.loads(seen[f"{who}.json"]) == json.loads(printed["json"])
        for fmt in ("md", "csv"):  # line by line: CSV's CRLF rows pass the terminal as LF
            assert seen[f"{who}.{fmt}"].splitlines() == printed[fmt].splitlines(), (who, fmt)
    st = json.loads(printed["json"])
    assert [(m["kind"], m["reason"]) for m in st["movements"]] == [
        ("topup", "invoice 12"), ("adjustment", "goodwill reversed"), ("redeem", st["movements"][2]["reason"])]
    assert "spring" in st["movements"][2]["reason"] and st["reconciles"]
    assert st["usage"], st  # usage per day, model and key
    for part in ("invoice 12", "goodwill reversed", "spring", "demo-chat", st["usage"][0]["key_id"]):
        assert part in printed["md"] and part in seen["page.md"], part
