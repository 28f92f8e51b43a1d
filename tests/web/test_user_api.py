"""A key holder's own API: balance, statement, keys, requests, set-up; never another owner's data."""

from __future__ import annotations

from typing import Any

import aiohttp
import openai

from relaygate.core.money import parse_amount
from relaygate.fakeupstream import FakeUpstream
from tests.harness import Running


async def _get(gw: Running, secret: str, path: str, **params: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as s, s.get(f"{gw.root}{path}", params=params,
                                                   headers={"Authorization": f"Bearer {secret}"}) as resp:
        body = await resp.json() if resp.content_type == "application/json" else await resp.text()
        return resp.status, body


async def _two_owners(gw: Running, fake: FakeUpstream) -> tuple[str, str, str, str]:
    await gw.add_channel(fake, "up", {"paid": "paid-upstream"})
    await gw.gateway.pricing.set_price("paid", input_per_m="2", output_per_m="8")
    alice, alice_key = await gw.add_key("alice")
    bob, bob_key = await gw.add_key("bob")
    for owner in ("alice", "bob"):
        await gw.gateway.ledger.record(owner, "topup", parse_amount("3"), "test credit", "tests")
    await gw.gateway.balance_sync.apply_credits()
    return alice, alice_key, bob, bob_key


async def test_a_key_holder_sees_their_balance_statement_keys_and_requests(gw: Running, fake: FakeUpstream) -> None:
    alice, alice_key, _, _ = await _two_owners(gw, fake)
    async with openai.AsyncOpenAI(base_url=gw.base_url, api_key=alice, max_retries=0) as api:
        await api.chat.completions.create(model="paid", messages=[{"role": "user", "content": "hi"}], max_tokens=20)
    await gw.gateway.usage.flush()
    status, bal = await _get(gw, alice, "/api/user/balance")
    assert status == 200 and bal["owner"] == "alice" and bal["negative"] is False, bal
    assert parse_amount(bal["balance"]) < parse_amount("3") and bal["held"] == "0"
    status, st = await _get(gw, alice, "/api/user/statement")
    assert status == 200 and st["reconciles"] and [m["kind"] for m in st["movements"]] == ["topup"]
    status, md = await _get(gw, alice, "/api/user/statement", format="md")
    assert status == 200 and "test credit" in md
    status, keys = await _get(gw, alice, "/api/user/keys")
    assert status == 200 and [k["id"] for k in keys] == [alice_key]
    assert keys[0]["masked"].startswith("sk-") and "…" in keys[0]["masked"] and alice not in str(keys)
    status, reqs = await _get(gw, alice, "/api/user/requests")
    assert status == 200 and len(reqs) == 1 and reqs[0]["status"] == 200 and reqs[0]["cost"] > 0
    assert "channel_id" not in reqs[0] and "upstream_model" not in reqs[0] and "caller_ip" not in reqs[0]
    status, one = await _get(gw, alice, f"/api/user/requests/{reqs[0]['request_id']}")
    assert status == 200 and reqs[0]["request_id"] in one["ticket"] and alice not in one["ticket"]


async def test_another_owners_ids_find_nothing(gw: Running, fake: FakeUpstream) -> None:
    alice, alice_key, bob, _ = await _two_owners(gw, fake)
    async with openai.AsyncOpenAI(base_url=gw.base_url, api_key=alice, max_retries=0) as api:
        await api.chat.completions.create(model="paid", messages=[{"role": "user", "content": "hi"}], max_tokens=20)
    await gw.gateway.usage.flush()
    _, alice_reqs = await _get(gw, alice, "/api/user/requests")
    rid = alice_reqs[0]["request_id"]
    assert (await _get(gw, bob, f"/api/user/requests/{rid}"))[0] == 404  # guessed or copied: not found
    assert (await _get(gw, bob, "/api/user/requests"))[1] == []
    assert (await _get(gw, bob, "/api/user/requests", key_id=alice_key))[1] == []
    _, bob_keys = await _get(gw, bob, "/api/user/keys")
    assert alice_key not in str(bob_keys)
    _, bob_st = await _get(gw, bob, "/api/user/statement")
    assert bob_st["owner"] == "bob" and bob_st["usage"] == []


async def test_a_disabled_or_wrong_key_gets_nothing(gw: Running, fake: FakeUpstream) -> None:
    alice, alice_key, _, _ = await _two_owners(gw, fake)
    assert (await _get(gw, "sk-not-a-key", "/api/user/balance"))[0] == 401
    await gw.gateway.accounts.update_key(alice_key, enabled=False)
    await gw.gateway.state.reload()
    status, doc = await _get(gw, alice, "/api/user/balance")
    assert status == 401 and "disabled" in doc["error"]["message"]


async def test_client_setup_names_the_base_url_form_fields_models_and_mistakes(gw: Running,
                                                                              fake: FakeUpstream) -> None:
    alice, _, _, _ = await _two_owners(gw, fake)
    status, cc = await _get(gw, alice, "/api/user/setup/claude-code")
    assert status == 200 and cc["base_url"] == gw.root and cc["key_field"] == "ANTHROPIC_AUTH_TOKEN"
    assert cc["models"] == ["paid"] and any("/v1" in m for m in cc["mistakes"])
    status, cursor = await _get(gw, alice, "/api/user/setup/cursor")
    assert cursor["base_url"] == gw.base_url
    async with aiohttp.ClientSession() as s, s.get(f"{gw.root}/api/user/setup/cherry-studio",
                                                   headers={"Authorization": f"Bearer {alice}",
                                                            "Accept-Language": "zh-CN"}) as resp:
        zh = await resp.json()
    assert "API 地址" in zh["base_url_field"] and "密钥" in zh["note"]
    assert (await _get(gw, alice, "/api/user/setup/notepad"))[0] == 404


async def test_requests_filter_by_model_status_errors_key_time_and_page_and_carry_the_support_fields(
        gw: Running, fake: FakeUpstream) -> None:
    alice, alice_key, _, _ = await _two_owners(gw, fake)
    other, other_key = await gw.add_key("alice", name="alice ci")
    async with openai.AsyncOpenAI(base_url=gw.base_url, api_key=alice, max_retries=0) as api:
        for _ in range(3):
            await api.chat.completions.create(model="paid", messages=[{"role": "user", "content": "hi"}],
                                              max_tokens=20)
    async with openai.AsyncOpenAI(base_url=gw.base_url, api_key=other, max_retries=0) as api:
        try:
            await api.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
        except openai.NotFoundError:
            pass
    await gw.gateway.usage.flush()
    _, everything = await _get(gw, alice, "/api/user/requests")
    assert len(everything) == 4
    assert {r["key_id"] for r in everything} == {alice_key, other_key}
    _, paid = await _get(gw, alice, "/api/user/requests", model="paid")
    assert len(paid) == 3 and all(r["requested_model"] == "paid" for r in paid)
    _, ok = await _get(gw, alice, "/api/user/requests", status=200)
    assert len(ok) == 3
    _, errors = await _get(gw, alice, "/api/user/requests", errors_only="true")
    assert len(errors) == 1 and errors[0]["status"] == 404 and errors[0]["error_code"] == "model_not_found"
    assert (await _get(gw, alice, "/api/user/requests", key_id=other_key))[1] == errors
    assert (await _get(gw, alice, "/api/user/requests", since="1h"))[1] == everything
    assert (await _get(gw, alice, "/api/user/requests", until="2001-01-01"))[1] == []
    _, first = await _get(gw, alice, "/api/user/requests", limit=2)
    _, rest = await _get(gw, alice, "/api/user/requests", limit=2, before_id=first[-1]["id"])
    assert [r["request_id"] for r in first + rest] == [r["request_id"] for r in everything]
    assert (await _get(gw, alice, "/api/user/requests", since="yesterday-ish"))[0] == 400

    status, one = await _get(gw, alice, f"/api/user/requests/{errors[0]['request_id']}")
    assert status == 200
    lines = dict(line.split(": ", 1) for line in one["ticket"].splitlines()[1:])
    assert list(lines) == ["request_id", "time", "requested_model", "status", "error_code", "client", "masked_key"]
    assert lines["request_id"] == one["request_id"] and lines["requested_model"] == "no-such-model"
    assert lines["status"] == "404" and lines["error_code"] == "model_not_found" and lines["time"] == one["time"]
    assert lines["masked_key"] == one["masked_key"] and "…" in lines["masked_key"] and lines["client"] != "-"
    assert other not in str(one)  # no full key anywhere in the record

    # the portal's page filters the same records
    from tests.console.helpers import Browser, hidden

    await gw.gateway.portal.users.add("alice-user", "alice", "alice-password-1")  # type: ignore[union-attr]
    async with Browser(gw) as b:
        async with b.session.get(b.url("/portal/login")) as resp:
            pre = hidden(await resp.text(), "pre")
        async with b.session.post(b.url("/portal/login"), data={"pre": pre, "name": "alice-user",
                                                                "password": "alice-password-1"}) as resp:
            assert resp.status == 200
        pages = {q: (await b.get(f"/portal/requests?{q}"))[1] for q in ("", "errors=1", "model=paid", "status=404")}
    rids = {r["request_id"]: r for r in everything}
    for query, wanted in (("", set(rids)), ("errors=1", {errors[0]["request_id"]}),
                          ("model=paid", {r["request_id"] for r in paid}),
                          ("status=404", {errors[0]["request_id"]})):
        assert {rid for rid in rids if rid in pages[query]} == wanted, query
