"""Failover before the first byte, cool-down and recovery, and stream failures after the first byte."""

from __future__ import annotations

import asyncio

import aiohttp
import openai
import pytest

from relaygate.fakeupstream import FakeUpstream
from tests.harness import Running, plan, start_fake

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hello there"}]}


@pytest.fixture
async def pair(gw: Running) -> tuple[Running, FakeUpstream, FakeUpstream, openai.AsyncOpenAI]:
    a, b = await start_fake(), await start_fake()
    gw.fakes += [a, b]
    await gw.add_channel(a, "primary", {"m": "m"}, priority=10, first_byte_timeout=0.5)
    await gw.add_channel(b, "backup", {"m": "m"}, priority=0, first_byte_timeout=0.5)
    secret, _ = await gw.add_key()
    return gw, a, b, openai.AsyncOpenAI(base_url=gw.base_url, api_key=secret, max_retries=0)


@pytest.mark.parametrize("behavior", [
    {"kind": "status", "status": 503}, {"kind": "status", "status": 429}, {"kind": "status", "status": 500},
    {"kind": "reset"}, {"kind": "stall", "seconds": 3},
])
async def test_fails_over_to_the_next_tier(pair: tuple[Running, FakeUpstream, FakeUpstream, openai.AsyncOpenAI],
                                           behavior: dict[str, object]) -> None:
    gw, a, b, client = pair
    await plan(a, "m", behavior)
    raw = await client.chat.completions.with_raw_response.create(**CHAT)  # type: ignore[call-overload]
    assert raw.parse().choices[0].message.content
    assert len(a.state.requests) == 1 and len(b.state.requests) == 1
    rec = await gw.usage_for(raw.headers["x-request-id"])
    assert rec["attempts"] == 2 and rec["status"] == 200
    primary = gw.gateway.state.snapshot.routes["m"][0].channel.id
    assert next(att["channel_id"] for att in rec["detail"]["attempts"]) == primary


async def test_priority_first_and_no_retry_on_a_healthy_answer(
        pair: tuple[Running, FakeUpstream, FakeUpstream, openai.AsyncOpenAI]) -> None:
    _, a, b, client = pair
    for _ in range(5):
        await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
    assert len(a.state.requests) == 5 and not b.state.requests


async def test_all_fail_gives_502_with_bounded_attempts(gw: Running) -> None:
    fakes = [await start_fake() for _ in range(4)]
    gw.fakes += fakes
    for i, f in enumerate(fakes):
        await gw.add_channel(f, f"c{i}", {"m": "m"})
        await plan(f, "m", {"kind": "status", "status": 502}, sticky=True)
    secret, _ = await gw.add_key()
    client = openai.AsyncOpenAI(base_url=gw.base_url, api_key=secret, max_retries=0)
    with pytest.raises(openai.InternalServerError) as info:
        await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
    assert info.value.status_code == 502 and info.value.code == "upstream_error"
    hits = [len(f.state.requests) for f in fakes]
    assert sum(hits) == 3 and max(hits) == 1  # max_attempts, never the same channel twice


async def test_timeout_gives_504_naming_the_timeout(gw: Running, fake: FakeUpstream) -> None:
    await gw.add_channel(fake, "slow", {"m": "m"}, first_byte_timeout=0.3)
    await plan(fake, "m", {"kind": "stall", "seconds": 2}, sticky=True)
    secret, _ = await gw.add_key()
    client = openai.AsyncOpenAI(base_url=gw.base_url, api_key=secret, max_retries=0)
    with pytest.raises(openai.APIStatusError) as info:
        await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
    assert info.value.status_code == 504 and "first byte timeout" in info.value.message


async def test_connect_error_and_no_healthy_channel(gw: Running, fake: FakeUpstream) -> None:
    dead = await start_fake()
    await dead.stop()  # nothing listens on its port any more
    await gw.add_channel(dead, "dead", {"m": "m"})
    secret, _ = await gw.add_key()
    client = openai.AsyncOpenAI(base_url=gw.base_url, api_key=secret, max_retries=0)
    with pytest.raises(openai.InternalServerError) as info:
        await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
    assert "cannot connect" in info.value.message
    await gw.gateway.routing.update_channel("dead", enabled=False, disabled_reason="maintenance")
    await gw.gateway.state.reload()
    with pytest.raises(openai.InternalServerError) as info:
        await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
    assert info.value.status_code == 503 and info.value.code == "no_healthy_channel"


async def test_cools_down_then_comes_back_after_a_probe(gw: Running, fake: FakeUpstream) -> None:
    cid = await gw.add_channel(fake, "flaky", {"m": "m"})
    secret, _ = await gw.add_key()
    client = openai.AsyncOpenAI(base_url=gw.base_url, api_key=secret, max_retries=0)
    await plan(fake, "m", *[{"kind": "status", "status": 500}] * 3)
    for _ in range(3):
        with pytest.raises(openai.InternalServerError):
            await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
    assert not gw.gateway.health.is_available(cid)
    with pytest.raises(openai.InternalServerError) as info:
        await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
    assert info.value.status_code == 503 and "cooling down" in info.value.message
    # visible through the admin listing with its reason, persisted for the CLI
    for _ in range(50):
        listing = await gw.gateway.routing.get_channel(cid)
        if listing["health"]["state"] == "cooling":
            break
        await asyncio.sleep(0.05)
    assert listing["health"]["state"] == "cooling" and "http_500" in listing["health"]["reason"]
    for _ in range(100):  # cooldown 0.5 s in tests, probe every 0.1 s
        if gw.gateway.health.is_available(cid):
            break
        await asyncio.sleep(0.05)
    assert gw.gateway.health.is_available(cid)
    assert any(r["path"] == "/v1/models" for r in fake.state.requests)  # the probe
    assert (await client.chat.completions.create(**CHAT)).choices  # type: ignore[call-overload]


async def test_stream_reset_after_first_byte_ends_with_error_and_done(gw: Running, fake: FakeUpstream) -> None:
    await gw.add_channel(fake, "s", {"m": "m"})
    secret, _ = await gw.add_key()
    await plan(fake, "m", {"kind": "reset_mid_stream", "after": 3})
    body = {**CHAT, "stream": True}
    async with aiohttp.ClientSession() as s:
        async with s.post(gw.base_url + "/chat/completions", json=body,
                          headers={"Authorization": f"Bearer {secret}"}) as resp:
            assert resp.status == 200
            text = (await resp.read()).decode()
    events = [e for e in text.split("\n\n") if e.strip()]
    assert events[-1] == "data: [DONE]"
    assert '"error"' in events[-2] and "request_id" in events[-2]
    assert sum('"content"' in e for e in events) >= 2
    rows = await gw.usage_rows()
    assert rows[0]["error_code"] in {"upstream_stream_error", "upstream_stream_incomplete"}
    assert rows[0]["estimated"] is True and rows[0]["completion_tokens"] > 0


async def test_stream_stall_after_first_chunk_times_out_cleanly(gw: Running, fake: FakeUpstream) -> None:
    await gw.add_channel(fake, "s", {"m": "m"}, first_byte_timeout=0.4)
    secret, _ = await gw.add_key()
    await plan(fake, "m", {"kind": "stall_after_first", "seconds": 5})
    client = openai.AsyncOpenAI(base_url=gw.base_url, api_key=secret, max_retries=0)
    stream = await client.chat.completions.create(**CHAT, stream=True)  # type: ignore[call-overload]
    with pytest.raises(openai.APIError) as info:
        async for _ in stream:
            pass
    assert "stream failed" in str(info.value)
    rows = await gw.usage_rows()
    assert rows[0]["error_code"] == "upstream_timeout"


async def test_stream_without_done_is_closed_for_the_caller(gw: Running, fake: FakeUpstream) -> None:
    await gw.add_channel(fake, "s", {"m": "m"})
    secret, _ = await gw.add_key()
    await plan(fake, "m", {"kind": "no_done"})
    async with aiohttp.ClientSession() as s:
        async with s.post(gw.base_url + "/chat/completions", json={**CHAT, "stream": True},
                          headers={"Authorization": f"Bearer {secret}"}) as resp:
            text = (await resp.read()).decode()
    assert text.rstrip().endswith("data: [DONE]")
    assert "upstream_stream_incomplete" in text


async def test_client_going_away_cancels_the_upstream_stream(gw: Running, fake: FakeUpstream) -> None:
    await gw.add_channel(fake, "s", {"m": "m"})
    secret, _ = await gw.add_key()
    await plan(fake, "m", {"kind": "slow", "seconds": 0.2})
    async with aiohttp.ClientSession() as s:
        resp = await s.post(gw.base_url + "/chat/completions", json={**CHAT, "stream": True},
                            headers={"Authorization": f"Bearer {secret}"})
        await resp.content.readany()
        resp.close()  # hang up mid-stream
    for _ in range(100):
        if fake.state.cancelled_streams:
            break
        await asyncio.sleep(0.05)
    assert fake.state.cancelled_streams == 1 and fake.state.active_streams == 0
    rows = []
    for _ in range(50):
        rows = await gw.usage_rows()
        if rows:
            break
        await asyncio.sleep(0.05)
    assert rows[0]["error_code"] == "client_disconnected" and rows[0]["estimated"] is True


async def test_client_going_away_cancels_a_pending_non_stream_call(gw: Running, fake: FakeUpstream) -> None:
    await gw.add_channel(fake, "s", {"m": "m"}, first_byte_timeout=10)
    secret, _ = await gw.add_key()
    await plan(fake, "m", {"kind": "stall", "seconds": 3})
    async with aiohttp.ClientSession() as s:
        with pytest.raises(asyncio.TimeoutError):
            await s.post(gw.base_url + "/chat/completions", json=CHAT,
                         headers={"Authorization": f"Bearer {secret}"}, timeout=aiohttp.ClientTimeout(total=0.3))
    rows = []
    for _ in range(50):
        rows = await gw.usage_rows()
        if rows:
            break
        await asyncio.sleep(0.05)
    assert rows and rows[0]["status"] == 499 and rows[0]["error_code"] == "client_disconnected"


async def test_several_secrets_rotate(gw: Running, fake: FakeUpstream) -> None:
    await gw.add_channel(fake, "multi", {"m": "m"}, secrets=["sk-aaaaaaaaaaaaa1", "sk-bbbbbbbbbbbbb2"])
    secret, _ = await gw.add_key()
    client = openai.AsyncOpenAI(base_url=gw.base_url, api_key=secret, max_retries=0)
    for _ in range(4):
        await client.chat.completions.create(**CHAT)  # type: ignore[call-overload]
    used = [r["headers"]["authorization"] for r in fake.state.requests]
    assert used == ["Bearer sk-aaaaaaaaaaaaa1", "Bearer sk-bbbbbbbbbbbbb2"] * 2


async def test_weighted_random_within_a_tier(gw: Running) -> None:
    heavy, light = await start_fake(), await start_fake()
    gw.fakes += [heavy, light]
    await gw.add_channel(heavy, "heavy", {"m": "m"}, weight=9)
    await gw.add_channel(light, "light", {"m": "m"}, weight=1)
    secret, _ = await gw.add_key()
    client = openai.AsyncOpenAI(base_url=gw.base_url, api_key=secret, max_retries=0)
    await asyncio.gather(*[client.chat.completions.create(**CHAT) for _ in range(200)])  # type: ignore[call-overload]
    share = len(heavy.state.requests) / 200
    assert 0.8 < share < 0.98, share  # 0.9 expected; bounds are > 4 sigma wide
