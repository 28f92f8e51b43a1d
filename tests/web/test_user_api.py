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
