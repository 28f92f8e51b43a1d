"""Rate limits on real requests: 429 with Retry-After naming the limit, per key and per group."""

from __future__ import annotations

import asyncio

import openai
import pytest

from relaygate.fakeupstream import FakeUpstream
from tests.harness import Running, plan

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


async def test_key_rpm_limit(gw: Running, fake: FakeUpstream) -> None:
    await gw.add_channel(fake, "up", ["m"])
    secret, key_id = await gw.add_key(rpm=3)
    client = openai.AsyncOpenAI(base_url=gw.base_url, api_key=secret, max_retries=0)
    for _ in range(3):
        await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
    with pytest.raises(openai.RateLimitError) as info:
        await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
    assert info.value.code == "rate_limited" and "3 requests per minute" in info.value.message
    assert key_id in info.value.message
    retry = int(info.value.response.headers["retry-after"])
    assert 1 <= retry <= 62  # a sliding minute: until the first request leaves it (and at most one 2 s slice)
    rows = await gw.usage_rows()
    assert rows[0]["status"] == 429 and rows[0]["error_code"] == "rate_limited"


async def test_group_concurrency_limit_and_release(gw: Running, fake: FakeUpstream) -> None:
    await gw.add_channel(fake, "up", ["m"])
    await gw.gateway.accounts.upsert_group("batch", None)
    await gw.gateway.pricing.set_group_terms("batch", concurrency=2)
    secret, _ = await gw.add_key(group="batch")
    await plan(fake, "m", *[{"kind": "stall", "seconds": 0.5}] * 2)
    client = openai.AsyncOpenAI(base_url=gw.base_url, api_key=secret, max_retries=0)

    async def one() -> int:
        try:
            await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
            return 200
        except openai.RateLimitError as exc:
            assert "2 requests at a time" in exc.message and "group batch" in exc.message
            return 429

    statuses = sorted(await asyncio.gather(one(), one(), one()))
    assert statuses == [200, 200, 429]
    await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]  # slots came back


async def test_tpm_counts_real_tokens(gw: Running, fake: FakeUpstream) -> None:
    await gw.add_channel(fake, "up", ["m"])
    secret, _ = await gw.add_key(tpm=120)
    client = openai.AsyncOpenAI(base_url=gw.base_url, api_key=secret, max_retries=0)
    used = 0
    with pytest.raises(openai.RateLimitError) as info:
        for _ in range(20):
            resp = await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
            used += resp.usage.total_tokens if resp.usage else 0
    assert "120 tokens per minute" in info.value.message
    assert 60 <= used <= 120 + 40  # refused once the real tokens (~25 per call) approach the budget
