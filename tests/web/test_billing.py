"""Money on real requests: exact charges, 402s that explain themselves, release on failure, no overspend."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import openai
import pytest
from sqlalchemy import select

from relaygate.core.money import Price, parse_amount
from relaygate.fakeupstream import FakeUpstream
from relaygate.services.operate.statements import balance_check, build_statement
from relaygate.store import tables as t
from tests.harness import Running, plan, running_gateway

CHAT = {"model": "paid", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 50}


async def ledger(gw: Running) -> list[Any]:
    await gw.gateway.usage.flush()
    async with gw.gateway.engine.connect() as conn:
        return list((await conn.execute(select(t.ledger_entries).order_by(t.ledger_entries.c.id))).all())


async def priced(gw: Running, fake: FakeUpstream, *, topup: str = "1", **price: Any) -> tuple[str, str, str]:
    await gw.add_channel(fake, "up", {"paid": "paid-upstream"})
    await gw.gateway.pricing.set_price("paid", **(price or {"input_per_m": "2", "output_per_m": "8"}))
    secret, key_id = await gw.add_key("payer")
    owner_id = gw.gateway.state.snapshot.keys_by_id[key_id].owner_id
    if topup != "0":
        await gw.gateway.ledger.record("payer", "topup", parse_amount(topup), "test credit", "tests")
        await gw.gateway.balance_sync.apply_credits()
    return secret, key_id, owner_id


async def test_charge_is_exact_and_explained(gw: Running, fake: FakeUpstream) -> None:
    secret, key_id, owner_id = await priced(gw, fake)
    client = openai.AsyncOpenAI(base_url=gw.base_url, api_key=secret, max_retries=0)
    resp = await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
    assert resp.usage is not None
    expected = Price(parse_amount("2"), parse_amount("8")).token_cost(resp.usage.prompt_tokens,
                                                                      resp.usage.completion_tokens)
    assert expected == (resp.usage.prompt_tokens * 2000 + resp.usage.completion_tokens * 8000)  # nanos
    rows = await gw.usage_rows()
    assert rows[0]["cost"] == expected and rows[0]["estimated"] is False
    entries = await ledger(gw)
    assert [(e.kind, e.amount) for e in entries] == [("topup", parse_amount("1")), ("settle", -expected)]
    assert entries[1].request_id == rows[0]["request_id"] and entries[1].key_id == key_id
    state = await gw.gateway.counters.read(f"owner:{owner_id}")
    assert (state.cap or 0) - state.used == parse_amount("1") - expected and state.held == 0
    assert all(r["ok"] for r in await balance_check(gw.gateway.engine))
    st = await build_statement(gw.gateway.engine, "payer", None, None, "USD")
    assert st["reconciles"] and st["closing_balance"] == parse_amount("1") - expected
    assert st["usage"][0]["requests"] == 1 and st["usage"][0]["amount"] == -expected


async def test_insufficient_balance_says_available_and_needed(gw: Running, fake: FakeUpstream) -> None:
    secret, _, _ = await priced(gw, fake, topup="0.0001")
    client = openai.AsyncOpenAI(base_url=gw.base_url, api_key=secret, max_retries=0)
    with pytest.raises(openai.APIStatusError) as info:
        await client.chat.completions.create(**{**CHAT, "max_tokens": 100_000})  # type: ignore[call-overload]
    assert info.value.status_code == 402
    msg = info.value.message
    assert "$0.0001 available" in msg and "needs up to $0.80" in msg and "Top up" in msg
    assert not fake.state.requests  # never reached upstream
    rows = await gw.usage_rows()
    assert rows[0]["error_code"] == "insufficient_balance" and rows[0]["cost"] == 0


async def test_upstream_failure_releases_the_hold(gw: Running, fake: FakeUpstream) -> None:
    secret, _, owner_id = await priced(gw, fake)
    await plan(fake, "paid-upstream", {"kind": "status", "status": 500}, sticky=True)
    client = openai.AsyncOpenAI(base_url=gw.base_url, api_key=secret, max_retries=0)
    with pytest.raises(openai.InternalServerError):
        await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
    state = await gw.gateway.counters.read(f"owner:{owner_id}")
    assert state.held == 0 and state.used == 0
    assert [e.kind for e in await ledger(gw)] == ["topup"]


async def test_key_daily_cap_and_group_multiplier(gw: Running, fake: FakeUpstream) -> None:
    secret, key_id, _ = await priced(gw, fake, topup="10")
    await gw.gateway.pricing.set_group_terms("default", multiplier="0.5")
    await gw.gateway.accounts.update_key(key_id, cap_daily="0.0004")
    await gw.gateway.state.reload()
    await gw.gateway.balance_sync.load_key_caps(gw.gateway.state.snapshot)
    client = openai.AsyncOpenAI(base_url=gw.base_url, api_key=secret, max_retries=0)
    resp = await client.chat.completions.create(**{**CHAT, "max_tokens": 20})  # type: ignore[call-overload]
    assert resp.usage is not None
    full = resp.usage.prompt_tokens * 2000 + resp.usage.completion_tokens * 8000
    assert (await gw.usage_rows())[0]["cost"] == full // 2  # even token counts: exact half
    with pytest.raises(openai.APIStatusError) as info:
        await client.chat.completions.create(**{**CHAT, "max_tokens": 100})  # type: ignore[call-overload]
    assert info.value.status_code == 402 and "daily spend cap of $0.0004" in info.value.message
    assert "00:00 UTC" in info.value.message


async def test_per_request_price_and_unpriced_policy(sqlite_url: str, fake: FakeUpstream, tmp_path: Any) -> None:
    async with running_gateway(sqlite_url, data_dir=str(tmp_path), unpriced_models="refuse") as gw:
        secret, _, _ = await priced(gw, fake, per_request="0.04")
        client = openai.AsyncOpenAI(base_url=gw.base_url, api_key=secret, max_retries=0)
        await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
        assert (await gw.usage_rows())[0]["cost"] == parse_amount("0.04")
        await gw.gateway.routing.update_channel("up", models={"paid": "paid-upstream", "other": "o"})
        await gw.gateway.state.reload()
        with pytest.raises(openai.PermissionDeniedError) as info:
            await client.chat.completions.create(**{**CHAT, "model": "other"})  # type: ignore[call-overload]
        assert info.value.code == "model_price_missing" and "'other'" in info.value.message


async def test_client_gone_mid_stream_is_charged_for_what_was_delivered(gw: Running, fake: FakeUpstream) -> None:
    secret, _, owner_id = await priced(gw, fake)
    await plan(fake, "paid-upstream", {"kind": "slow", "seconds": 0.2})
    async with aiohttp.ClientSession() as s:
        resp = await s.post(gw.base_url + "/chat/completions", json={**CHAT, "stream": True},
                            headers={"Authorization": f"Bearer {secret}"})
        await resp.content.readany()
        await asyncio.sleep(0.5)
        resp.close()
    for _ in range(100):
        rows = await gw.usage_rows()
        if rows:
            break
        await asyncio.sleep(0.05)
    rec = rows[0]
    assert rec["error_code"] == "client_disconnected" and rec["estimated"] is True
    assert rec["cost"] > 0 and rec["completion_tokens"] > 0
    state = await gw.gateway.counters.read(f"owner:{owner_id}")
    assert state.held == 0 and state.used == rec["cost"]


async def test_operator_topup_reaches_the_running_gateway_once(gw: Running, fake: FakeUpstream) -> None:
    _, _, owner_id = await priced(gw, fake, topup="0")
    await gw.gateway.ledger.record("payer", "topup", parse_amount("3"), "invoice 42", "finance", ref="INV-42")
    for _ in range(100):  # the balance-sync task polls the ledger version
        state = await gw.gateway.counters.read(f"owner:{owner_id}")
        if state.cap:
            break
        await asyncio.sleep(0.05)
    assert state.cap == parse_amount("3")
    await gw.gateway.balance_sync.apply_credits()  # applying again changes nothing
    assert (await gw.gateway.counters.read(f"owner:{owner_id}")).cap == parse_amount("3")


async def test_no_overspend_under_concurrency(backend_url: str, fake: FakeUpstream, tmp_path: Any) -> None:
    """60 concurrent requests against a balance that covers a handful of holds: never below zero."""
    async with running_gateway(backend_url, data_dir=str(tmp_path)) as gw:
        secret, _, owner_id = await priced(gw, fake, topup="0.01")
        client = openai.AsyncOpenAI(base_url=gw.base_url, api_key=secret, max_retries=0)

        async def one() -> int:
            try:
                await client.chat.completions.create(**{**CHAT, "max_tokens": 200})  # type: ignore[call-overload]
                return 200
            except openai.APIStatusError as exc:
                return exc.status_code

        statuses = await asyncio.gather(*[one() for _ in range(60)])
        assert set(statuses) <= {200, 402} and 200 in statuses and 402 in statuses
        state = await gw.gateway.counters.read(f"owner:{owner_id}")
        assert state.held == 0 and (state.cap or 0) - state.used >= 0
        await gw.gateway.usage.flush()
        checks = await balance_check(gw.gateway.engine)
        assert all(c["ok"] for c in checks)
        db_balance = next(c["stored_balance"] for c in checks if c["owner_id"] == owner_id)
        assert db_balance == (state.cap or 0) - state.used >= 0
        charged = sum(r["cost"] for r in await gw.usage_rows())
        assert db_balance == parse_amount("0.01") - charged


async def test_one_api_dashboard_billing_endpoints(gw: Running, fake: FakeUpstream) -> None:
    secret, _, _ = await priced(gw, fake, topup="5")
    client = openai.AsyncOpenAI(base_url=gw.base_url, api_key=secret, max_retries=0)
    await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
    cost = (await gw.usage_rows())[0]["cost"]
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {secret}"}) as s:
        async with s.get(gw.base_url + "/dashboard/billing/subscription") as resp:
            sub = await resp.json()
        async with s.get(gw.root + "/dashboard/billing/usage?start_date=2026-01-01&end_date=2026-12-31") as resp:
            usage = await resp.json()
    assert sub["hard_limit_usd"] == 5.0 and sub["object"] == "billing_subscription"
    assert usage["total_usage"] == pytest.approx(cost / 1e9 * 100)
    assert sub["hard_limit_usd"] - usage["total_usage"] / 100 == pytest.approx(5 - cost / 1e9)


async def test_budget_alerts_fire_once_per_crossing_and_reach_the_webhook(sqlite_url: str, tmp_path: Any) -> None:
    from aiohttp import web

    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake = FakeUpstream()
    await fake.start()
    try:
        async with running_gateway(sqlite_url, data_dir=str(tmp_path),
                                   alert_webhook_url=f"http://127.0.0.1:{port}/hook") as gw:
            secret, key_id, _ = await priced(gw, fake, topup="0.0016")
            await gw.gateway.alerts_admin.add_rule(owner="payer", balance_below="0.0015")
            await gw.gateway.accounts.update_key(key_id, cap_total="0.0003")
            await gw.gateway.alerts_admin.add_rule(key=key_id, cap_percent=50, cap="total")
            await gw.gateway.state.reload()
            await gw.gateway.alerts.reload()
            client = openai.AsyncOpenAI(base_url=gw.base_url, api_key=secret, max_retries=0)
            for _ in range(3):
                try:
                    await client.chat.completions.create(**{**CHAT, "max_tokens": 20})  # type: ignore[call-overload]
                except openai.APIStatusError:
                    pass
            for _ in range(100):
                events = await gw.gateway.alerts_admin.events()
                if len(events) >= 2 and len(received) >= 2:
                    break
                await asyncio.sleep(0.05)
            kinds = sorted(e["kind"] for e in events)
            assert kinds == ["balance_below", "cap_percent"]  # once each, though spending went on
            assert all(e["delivered"] for e in events) and len(received) == 2
            assert any("below $0.0015" in r["message"] for r in received)
    finally:
        await fake.stop()
        await runner.cleanup()
