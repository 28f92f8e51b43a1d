"""Money through the admin REST API: prices, group terms, balances stored and live, statements, checks."""

from __future__ import annotations

from typing import Any

import aiohttp
import openai

from relaygate.core.money import parse_amount
from relaygate.fakeupstream import FakeUpstream
from tests.harness import Running


async def call(gw: Running, method: str, path: str, token: str | None = None,
               **kw: Any) -> tuple[int, Any, str]:
    """(status, JSON body or text, content type)."""
    headers = {"Authorization": f"Bearer {token or gw.admin_token}", **kw.pop("headers", {})}
    async with aiohttp.ClientSession() as s:
        async with s.request(method, gw.root + path, headers=headers, **kw) as resp:
            text = await resp.text()
            ctype = resp.headers.get("content-type", "")
            if text and ctype.startswith("application/json"):
                return resp.status, await resp.json(), ctype
            return resp.status, text or None, ctype


async def test_billing_endpoints_need_the_admin_token(gw: Running) -> None:
    for method, path in (("GET", "/api/prices"), ("PUT", "/api/prices/m1"), ("GET", "/api/balances/check"),
                         ("GET", "/api/balances/admin"), ("POST", "/api/balances/admin/topup"),
                         ("GET", "/api/balances/admin/statement"), ("PATCH", "/api/groups/default/terms")):
        status, body, _ = await call(gw, method, path, token="rga-wrong", json={})
        assert status == 401, (method, path)
        assert "admin token" in body["error"]["message"]
    async with aiohttp.ClientSession() as s, s.get(gw.root + "/api/openapi.json") as resp:
        spec = await resp.json()
    assert {"/api/prices", "/api/balances/{owner}/topup", "/api/balances/check"} <= set(spec["paths"])


async def test_prices_and_group_terms(gw: Running) -> None:
    status, price, _ = await call(gw, "PUT", "/api/prices/gpt-x", json={
        "input_per_m": "0.15", "output_per_m": "0.60", "cached_input_per_m": "0.075", "max_output_tokens": 256})
    assert status == 200
    assert (price["model"], price["input_per_m"], price["output_per_m"], price["cached_input_per_m"]) == (
        "gpt-x", "0.15", "0.6", "0.075")
    assert price["max_output_tokens"] == 256 and "$0.15" in price["summary"]
    status, _, _ = await call(gw, "PUT", "/api/prices/vendor/img-1", json={"per_request": "0.04"})
    assert status == 200
    assert gw.gateway.state.snapshot.prices  # this process serves the new prices at once
    status, listed, _ = await call(gw, "GET", "/api/prices")
    assert [p["model"] for p in listed] == ["gpt-x", "vendor/img-1"]
    assert listed[1]["per_request"] == "0.04" and listed[1]["kind"] == "per request"

    status, body, _ = await call(gw, "PUT", "/api/prices/bad", json={"input_per_m": "cheap", "output_per_m": "1"})
    assert status == 400 and "input price" in body["error"]["message"]
    status, body, _ = await call(gw, "PUT", "/api/prices/bad", json={"input_per_m": "x", "output_per_m": "1"},
                                 headers={"Accept-Language": "zh-CN"})
    assert status == 400 and "金额无效" in body["error"]["message"]
    status, _, _ = await call(gw, "DELETE", "/api/prices/vendor/img-1")
    assert status == 204
    status, body, _ = await call(gw, "DELETE", "/api/prices/vendor/img-1")
    assert status == 404 and "No model" in body["error"]["message"]

    status, terms, _ = await call(gw, "PATCH", "/api/groups/default/terms", json={
        "multiplier": "0.8", "rpm": 60, "concurrency": 2})
    assert status == 200 and terms == {"name": "default", "multiplier": "0.8", "rpm": 60, "tpm": None,
                                       "concurrency": 2}
    status, terms, _ = await call(gw, "PATCH", "/api/groups/default/terms", json={"clear": ["rpm"], "tpm": 900})
    assert (terms["rpm"], terms["tpm"], terms["concurrency"]) == (None, 900, 2)
    status, body, _ = await call(gw, "PATCH", "/api/groups/default/terms", json={"clear": ["name"]})
    assert status == 400 and "'clear' takes" in body["error"]["message"]
    status, body, _ = await call(gw, "PATCH", "/api/groups/nope/terms", json={"rpm": 5})
    assert status == 404


async def test_topup_is_live_at_once_and_the_statement_reconciles(gw: Running) -> None:
    await gw.gateway.accounts.create_owner("team-a", "team")
    status, bal, _ = await call(gw, "GET", "/api/balances/team-a")
    assert status == 200 and (bal["balance"], bal["held"], bal["available"]) == ("0", "0", "0")

    status, done, _ = await call(gw, "POST", "/api/balances/team-a/topup", json={
        "amount": "12.345", "reason": "invoice 42", "ref": "INV-42"})
    assert status == 201
    assert (done["kind"], done["amount"], done["formatted"], done["actor"], done["ref"]) == (
        "topup", "12.345", "$12.345", "admin-api", "INV-42")
    after = done["balance_after"]
    assert after["balance"] == "12.345" and after["live"]["balance"] == "12.345"

    status, bal, _ = await call(gw, "GET", "/api/balances/team-a")
    assert (bal["owner"], bal["balance"], bal["available"], bal["formatted"]["balance"]) == (
        "team-a", "12.345", "12.345", "$12.345")
    assert (bal["live"]["balance"], bal["live"]["held"], bal["live"]["available"]) == ("12.345", "0", "12.345")

    status, done, _ = await call(gw, "POST", "/api/balances/team-a/adjust", json={
        "amount": "-2.345", "reason": "correction", "actor": "ops"})
    assert status == 201 and done["amount"] == "-2.345" and done["actor"] == "ops"
    status, bal, _ = await call(gw, "GET", f"/api/balances/{bal['owner_id']}")  # by id too
    assert bal["balance"] == "10" and bal["live"]["balance"] == "10"

    status, st, ctype = await call(gw, "GET", "/api/balances/team-a/statement?format=json&from=1d")
    assert status == 200 and ctype.startswith("application/json")
    assert st["reconciles"] is True and st["closing_balance"] == "10"
    assert [(m["kind"], m["amount"], m["reason"], m["actor"]) for m in st["movements"]] == [
        ("topup", "12.345", "invoice 42", "admin-api"), ("adjustment", "-2.345", "correction", "ops")]
    assert st["formatted"]["closing_balance"] == "$10.00"
    status, md, ctype = await call(gw, "GET", "/api/balances/team-a/statement?format=md")
    assert ctype.startswith("text/plain") and "invoice 42" in md and "**$10.00**" in md
    status, md, _ = await call(gw, "GET", "/api/balances/team-a/statement?format=md",
                               headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert "期末余额" in md
    status, csv_text, ctype = await call(gw, "GET", "/api/balances/team-a/statement?format=csv")
    assert ctype.startswith("text/csv") and "movement" in csv_text and ",12.345,invoice 42," in csv_text

    status, check, _ = await call(gw, "GET", "/api/balances/check")
    assert status == 200 and check["ok"] is True
    row = next(o for o in check["owners"] if o["owner"] == "team-a")
    assert row["stored_balance"] == {"amount": "10", "formatted": "$10.00"} and row["ok"] is True


async def test_money_errors_are_readable(gw: Running) -> None:
    await gw.gateway.accounts.create_owner("bob")
    status, body, _ = await call(gw, "POST", "/api/balances/bob/topup", json={"amount": "ten", "reason": "x"})
    assert status == 400 and "'ten' is not an amount" in body["error"]["message"]
    status, body, _ = await call(gw, "POST", "/api/balances/bob/topup", json={"amount": "-1", "reason": "x"})
    assert status == 400 and "must be positive" in body["error"]["message"]
    status, body, _ = await call(gw, "POST", "/api/balances/bob/adjust", json={"amount": "1", "reason": " "})
    assert status == 400 and "reason" in body["error"]["message"]
    status, body, _ = await call(gw, "POST", "/api/balances/ghost/topup", json={"amount": "1", "reason": "x"})
    assert status == 404
    status, body, _ = await call(gw, "GET", "/api/balances/ghost")
    assert status == 404
    status, body, _ = await call(gw, "GET", "/api/balances/ghost/statement")
    assert status == 404 and "No owner or key" in body["error"]["message"]
    status, body, _ = await call(gw, "GET", "/api/balances/bob/statement?format=pdf")
    assert status == 400 and "Unknown format" in body["error"]["message"]
    status, body, _ = await call(gw, "GET", "/api/balances/bob/statement?from=someday")
    assert status == 400 and "is not a time" in body["error"]["message"]


async def test_a_priced_request_shows_on_the_statement_at_its_recorded_cost(gw: Running,
                                                                           fake: FakeUpstream) -> None:
    await gw.add_channel(fake, "up", {"m1": "real-1"})
    secret, key_id = await gw.add_key("payer")
    status, _, _ = await call(gw, "PUT", "/api/prices/m1", json={"input_per_m": "3", "output_per_m": "15"})
    assert status == 200
    status, done, _ = await call(gw, "POST", "/api/balances/payer/topup", json={"amount": "5", "reason": "start"})
    assert status == 201 and done["balance_after"]["live"]["balance"] == "5"

    client = openai.AsyncOpenAI(base_url=gw.base_url, api_key=secret, max_retries=0)
    resp = await client.chat.completions.create(model="m1", messages=[{"role": "user", "content": "hello there"}])
    assert resp.usage is not None and resp.usage.total_tokens > 0
    rows = [r for r in await gw.usage_rows() if r["key_id"] == key_id]
    assert len(rows) == 1 and rows[0]["cost"] > 0
    cost = rows[0]["cost"]

    status, st, _ = await call(gw, "GET", "/api/balances/payer/statement?format=json")
    assert st["reconciles"] is True
    assert len(st["usage"]) == 1
    line = st["usage"][0]
    assert (line["model"], line["key_id"], line["requests"]) == ("m1", key_id, 1)
    assert (line["prompt_tokens"], line["completion_tokens"]) == (resp.usage.prompt_tokens,
                                                                  resp.usage.completion_tokens)
    assert parse_amount(line["amount"]) == -cost
    assert parse_amount(st["closing_balance"]) == parse_amount("5") - cost
    status, bal, _ = await call(gw, "GET", "/api/balances/payer")
    assert parse_amount(bal["balance"]) == parse_amount(bal["live"]["balance"]) == parse_amount("5") - cost
    status, check, _ = await call(gw, "GET", "/api/balances/check")
    assert check["ok"] is True
