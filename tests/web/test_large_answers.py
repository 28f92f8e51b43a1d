"""Large non-stream answers pass through as they arrive (services/gateway/answers.py), and still settle right."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import openai
import orjson
import pytest

from relaygate.core.money import Price, parse_amount
from relaygate.fakeupstream import FakeUpstream
from relaygate.protocols.openai import usage_from_body
from relaygate.services.gateway.answers import LARGE_ANSWER, usage_from_tail
from tests.harness import Running, plan
from tests.web.test_billing import ledger, priced

CHAT = {"model": "paid", "messages": [{"role": "user", "content": "write a lot"}], "max_tokens": 50}


async def post(gw: Running, secret: str, body: dict[str, Any]) -> tuple[int, bytes, str]:
    async with aiohttp.ClientSession() as s:
        async with s.post(gw.base_url + "/chat/completions", json=body,
                          headers={"Authorization": f"Bearer {secret}"}) as resp:
            return resp.status, await resp.read(), resp.headers["x-request-id"]


async def test_a_large_answer_arrives_whole_and_is_charged_its_usage(gw: Running, fake: FakeUpstream) -> None:
    secret, _, _ = await priced(gw, fake)
    await plan(fake, "paid-upstream", {"kind": "big", "size": 400_000})
    status, raw, rid = await post(gw, secret, CHAT)
    assert status == 200 and len(raw) > 400_000 > LARGE_ANSWER
    answer = orjson.loads(raw)  # the upstream's bytes, whole: escapes and non-ASCII untouched
    assert answer["choices"][0]["message"]["content"].startswith('Line "%d" of a long answer, naïve café')
    rec = await gw.usage_for(rid)
    prompt, completion = answer["usage"]["prompt_tokens"], answer["usage"]["completion_tokens"]
    assert (rec["prompt_tokens"], rec["completion_tokens"]) == (prompt, completion)
    assert rec["status"] == 200 and rec["estimated"] is False and rec["error_code"] is None
    expected = Price(parse_amount("2"), parse_amount("8")).token_cost(prompt, completion)
    assert rec["cost"] == expected and [e.amount for e in await ledger(gw) if e.kind == "settle"] == [-expected]


async def test_large_embeddings_through_the_sdk(gw: Running, fake: FakeUpstream) -> None:
    secret, _, _ = await priced(gw, fake)
    client = openai.AsyncOpenAI(base_url=gw.base_url, api_key=secret, max_retries=0)
    inputs = [f"document number {i} about the sea" for i in range(300)]
    resp = await client.embeddings.create(model="paid", input=inputs, dimensions=256)
    assert len(resp.data) == 300 and len(resp.data[0].embedding) == 256  # about 900 KB of JSON
    rows = await gw.usage_rows()
    assert rows[0]["prompt_tokens"] == resp.usage.prompt_tokens > 0 and rows[0]["estimated"] is False


async def test_an_answer_cut_by_the_upstream_is_not_charged(gw: Running, fake: FakeUpstream) -> None:
    secret, _, owner_id = await priced(gw, fake)
    await plan(fake, "paid-upstream", {"kind": "big", "size": 400_000, "cut_at": 200_000})
    async with aiohttp.ClientSession() as s:
        async with s.post(gw.base_url + "/chat/completions", json=CHAT,
                          headers={"Authorization": f"Bearer {secret}"}) as resp:
            rid = resp.headers["x-request-id"]
            with pytest.raises(aiohttp.ClientPayloadError):  # the caller sees the answer end short
                await resp.read()
    rec = await gw.usage_for(rid)
    assert rec["error_code"] == "upstream_stream_error" and rec["cost"] == 0
    assert [e for e in await ledger(gw) if e.kind == "settle"] == []
    state = await gw.gateway.counters.read(f"owner:{owner_id}")
    assert state.held == 0  # the hold went back
    assert gw.gateway.health.get(rec["channel_id"]).consecutive_failures == 1


async def test_a_caller_who_hangs_up_mid_answer_is_recorded_499_and_charged(gw: Running, fake: FakeUpstream) -> None:
    secret, _, owner_id = await priced(gw, fake)
    await plan(fake, "paid-upstream", {"kind": "big", "size": 3_000_000})
    async with aiohttp.ClientSession() as s:
        resp = await s.post(gw.base_url + "/chat/completions", json=CHAT,
                            headers={"Authorization": f"Bearer {secret}"})
        rid = resp.headers["x-request-id"]
        await resp.content.readexactly(100_000)
        resp.close()
    for _ in range(100):
        rows = [r for r in await gw.usage_rows() if r["request_id"] == rid]
        if rows:
            break
        await asyncio.sleep(0.05)
    rec = rows[0]
    assert rec["status"] == 499 and rec["error_code"] == "client_disconnected" and rec["cost"] > 0
    assert (await gw.gateway.counters.read(f"owner:{owner_id}")).held == 0


async def test_a_large_answer_that_is_not_json_fails_over(gw: Running, fake: FakeUpstream) -> None:
    secret, _, _ = await priced(gw, fake)
    await plan(fake, "paid-upstream", {"kind": "big", "size": 200_000, "html": True}, sticky=True)
    status, raw, rid = await post(gw, secret, CHAT)
    assert status == 502 and b"upstream_invalid_response" in raw
    assert (await gw.usage_for(rid))["cost"] == 0


def test_usage_is_read_from_the_tail_alone() -> None:
    body = orjson.dumps({"id": "x", "choices": [{"message": {"content": 'text with "usage": {"prompt_tokens": 9}'}}],
                         "usage": {"prompt_tokens": 3, "completion_tokens": 4, "prompt_tokens_details":
                                   {"cached_tokens": 1}}})
    usage = usage_from_tail(body[-110:], usage_from_body)
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens) == (3, 4, 1)
    assert usage_from_tail(b'"content":"no usage here"}', usage_from_body) is None
    spaced = b'{"a": 1, "usageMetadata" : {"promptTokenCount": 5}}'
    assert usage_from_tail(spaced, lambda raw: orjson.loads(raw)) == {"usageMetadata": {"promptTokenCount": 5}}
