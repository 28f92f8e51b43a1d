"""Bodies of the wrong shape: 400 in the caller's dialect naming the field, never sent upstream, never charged."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson
import pytest
from sqlalchemy import select

from relaygate.core.money import parse_amount
from relaygate.fakeupstream import FakeUpstream
from relaygate.protocols.openai import BadBody
from relaygate.protocols.validate import check_body
from relaygate.store import tables as t
from tests.harness import Running

HI = [{"role": "user", "content": "hi"}]
GEMINI_HI = [{"role": "user", "parts": [{"text": "hi"}]}]
CHAT = "/v1/chat/completions"
MESSAGES = "/v1/messages"
RESPONSES = "/v1/responses"
GEMINI = "/v1beta/models/paid:generateContent"

# (path, body, the field the answer must name). Each was answered 200 (and billed) before validation.
BAD: list[tuple[str, dict[str, Any], str]] = [
    (CHAT, {"model": "paid", "messages": HI, "stream": "yes"}, "stream"),
    (CHAT, {"model": "paid", "messages": HI, "stream": 1}, "stream"),
    (CHAT, {"model": "paid", "messages": HI, "max_tokens": "100"}, "max_tokens"),
    (CHAT, {"model": "paid", "messages": HI, "max_tokens": -5}, "max_tokens"),
    (CHAT, {"model": "paid", "messages": HI, "max_completion_tokens": 1.5}, "max_completion_tokens"),
    (CHAT, {"model": "paid", "messages": HI, "temperature": "hot"}, "temperature"),
    (CHAT, {"model": "paid", "messages": HI, "stream_options": True}, "stream_options"),
    (CHAT, {"model": "paid", "messages": HI, "tools": {"type": "function"}}, "tools"),
    (CHAT, {"model": "paid", "messages": []}, "messages"),
    (CHAT, {"model": "paid", "messages": ["hello"]}, "messages[0]"),
    (CHAT, {"model": "paid", "messages": [{"content": "hello"}]}, "messages[0].role"),
    (CHAT, {"model": "paid", "messages": [{"role": "user", "content": 42}]}, "messages[0].content"),
    ("/v1/completions", {"model": "paid"}, "prompt"),
    ("/v1/completions", {"model": "paid", "prompt": {"text": "hi"}}, "prompt"),
    ("/v1/embeddings", {"model": "paid"}, "input"),
    ("/v1/embeddings", {"model": "paid", "input": 7}, "input"),
    (MESSAGES, {"model": "paid", "max_tokens": 10, "messages": "hello"}, "messages"),
    (MESSAGES, {"model": "paid", "messages": HI}, "max_tokens"),
    (MESSAGES, {"model": "paid", "max_tokens": "10", "messages": HI}, "max_tokens"),
    (MESSAGES, {"model": "paid", "max_tokens": 10, "messages": HI, "stream": "yes"}, "stream"),
    (MESSAGES, {"model": "paid", "max_tokens": 10, "messages": [{"role": "user"}]}, "messages[0].content"),
    (MESSAGES, {"model": "paid", "max_tokens": 10, "messages": HI, "system": 5}, "system"),
    ("/v1/messages/count_tokens", {"model": "paid", "messages": "hello"}, "messages"),
    (RESPONSES, {"model": "paid", "input": 5}, "input"),
    (RESPONSES, {"model": "paid", "input": "hi", "stream": "yes"}, "stream"),
    (RESPONSES, {"model": "paid", "input": ["hi"]}, "input[0]"),
    (RESPONSES, {"model": "paid", "input": "hi", "max_output_tokens": "9"}, "max_output_tokens"),
    (RESPONSES, {"model": "paid", "input": "hi", "instructions": ["be brief"]}, "instructions"),
    (GEMINI, {"contents": "hello"}, "contents"),
    (GEMINI, {}, "contents"),
    (GEMINI, {"contents": [{"role": "user", "parts": "hello"}]}, "contents[0].parts"),
    (GEMINI, {"contents": GEMINI_HI, "generationConfig": {"maxOutputTokens": "many"}},
     "generationConfig.maxOutputTokens"),
    (GEMINI, {"contents": GEMINI_HI, "generationConfig": []}, "generationConfig"),
]


def dialect_of(path: str) -> str:
    return ("anthropic" if path.startswith(MESSAGES) else "responses" if path == RESPONSES
            else "gemini" if path == GEMINI else "openai")


async def send(gw: Running, path: str, body: Any, secret: str) -> tuple[int, dict[str, Any], str]:
    headers = {"Authorization": f"Bearer {secret}", "x-goog-api-key": secret, "anthropic-version": "2023-06-01"}
    async with aiohttp.ClientSession() as s:
        async with s.post(gw.root + path, data=orjson.dumps(body), headers=headers) as resp:
            return resp.status, await resp.json(content_type=None), resp.headers.get("x-request-id", "")


@pytest.fixture
async def paid(gw: Running, fake: FakeUpstream) -> str:
    await gw.add_channel(fake, "up", {"paid": "paid-upstream"})
    await gw.gateway.pricing.set_price("paid", input_per_m="2", output_per_m="8")
    secret, _ = await gw.add_key("payer")
    await gw.gateway.ledger.record("payer", "topup", parse_amount("1"), "test credit", "tests")
    await gw.gateway.balance_sync.apply_credits()
    return secret


def error_message(dialect: str, body: dict[str, Any]) -> str:
    """The message of an error body in each dialect's own envelope."""
    if dialect == "anthropic":
        assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    elif dialect == "gemini":
        assert body["error"]["code"] == 400 and body["error"]["status"] == "INVALID_ARGUMENT"
    else:
        assert body["error"]["code"] == "bad_request" or body["error"].get("type") == "invalid_request_error"
    return str(body["error"]["message"])


async def test_every_bad_body_is_refused_in_its_dialect_and_costs_nothing(
        gw: Running, fake: FakeUpstream, paid: str) -> None:
    for path, body, field in BAD:
        status, answer, rid = await send(gw, path, body, paid)
        assert status == 400, (path, body, answer)
        message = error_message(dialect_of(path), answer)
        assert f"'{field}'" in message, (path, body, message)
        if dialect_of(path) == "openai":
            assert answer["error"]["param"] == field
        row = await gw.usage_for(rid)
        assert row["status"] == 400 and row["error_code"] == "bad_request" and row["cost"] == 0
    assert fake.state.requests == [], "a bad body reached the upstream"
    await gw.gateway.usage.flush()
    async with gw.gateway.engine.connect() as conn:
        kinds = [r.kind for r in (await conn.execute(select(t.ledger_entries))).all()]
    assert kinds == ["topup"], "a bad body was charged"
    key_id = next(iter(gw.gateway.state.snapshot.keys_by_id.values())).owner_id
    state = await gw.gateway.counters.read(f"owner:{key_id}")
    assert state.held == 0 and state.used == 0


async def test_chinese_message_names_the_field(gw: Running, fake: FakeUpstream, paid: str) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.post(gw.root + MESSAGES, json={"model": "paid", "messages": HI},
                          headers={"x-api-key": paid, "Accept-Language": "zh-CN"}) as resp:
            assert resp.status == 400
            message = (await resp.json())["error"]["message"]
    assert "缺少必填字段 'max_tokens'" in message and "正整数" in message


async def test_good_bodies_with_unknown_fields_pass_through_untouched(
        gw: Running, fake: FakeUpstream, paid: str) -> None:
    """Validation looks only at what the gateway reads: same-dialect bodies reach the upstream as sent."""
    for protocol, path, body in (
            ("openai", CHAT, {"model": "paid", "messages": HI, "stream": None, "max_tokens": None,
                              "x_vendor": {"deep": [1, "two"]}, "metadata": {"k": "v"}}),
            ("anthropic", MESSAGES, {"model": "paid", "max_tokens": 10, "messages": HI, "x_beta": [1],
                                     "container": "c-1"}),
            ("gemini", GEMINI, {"contents": GEMINI_HI, "labels": {"team": "a"},
                                "generationConfig": {"maxOutputTokens": 10, "responseModalities": ["TEXT"]}})):
        if protocol != "openai":
            base = fake.base_url if protocol == "anthropic" else f"http://127.0.0.1:{fake.port}/v1beta"
            await gw.gateway.routing.create_channel(name=f"{protocol}-up", protocol=protocol, base_url=base,
                                                    secrets=["sk-up-0001"], models={"paid": "paid"},
                                                    priority=10 if protocol == "anthropic" else 20)
            await gw.gateway.state.reload()
        status, answer, _ = await send(gw, path, body, paid)
        assert status == 200, (path, answer)
        sent = fake.state.requests[-1]["body"]
        expected = {**body, "model": "paid-upstream"} if protocol == "openai" else body
        assert sent == expected, protocol


def test_check_body_is_pure_and_says_both_languages() -> None:
    with pytest.raises(BadBody) as info:
        check_body("anthropic", "messages", {"model": "m", "messages": "hello", "max_tokens": 5})
    assert info.value.param == "messages"
    assert "must be a non-empty list of messages; got a string" in info.value.en
    assert "非空的消息列表" in info.value.zh
    check_body("openai", "chat/completions", {"model": "m", "messages": HI, "stream": True, "n": None})
    check_body("anthropic", "messages/count_tokens", {"model": "m", "messages": HI})  # no max_tokens needed
    check_body("openai", "unknown-endpoint", {"anything": object()})
    with pytest.raises(BadBody):  # true is not an integer
        check_body("openai", "chat/completions", {"model": "m", "messages": HI, "max_tokens": True})
