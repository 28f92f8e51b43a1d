"""Routing that keeps what the caller sent: the caller's dialect first, and one channel and key per session."""

from __future__ import annotations

from collections import Counter
from typing import Any

import aiohttp
import orjson

from relaygate.fakeupstream import FakeUpstream
from tests.harness import Running, plan, start_fake

MESSAGES = {"model": "m", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}


async def post_messages(gw: Running, key: str, headers: dict[str, str] | None = None) -> int:
    async with aiohttp.ClientSession() as s, s.post(gw.root + "/v1/messages", data=orjson.dumps(MESSAGES), headers={
            "x-api-key": key, "anthropic-version": "2023-06-01", **(headers or {})}) as resp:
        await resp.read()
        return resp.status


async def test_native_channel_first_then_across_dialects(gw: Running, fake: FakeUpstream) -> None:
    await gw.add_channel(fake, "chat", {"m": "chat-m"})
    await gw.gateway.routing.create_channel(name="native", protocol="anthropic", base_url=fake.base_url,
                                            secrets=["sk-upstream-native-0001"], models={"m": "native-m"})
    await gw.gateway.state.reload()
    key, _ = await gw.add_key("router")
    for _ in range(6):
        assert await post_messages(gw, key) == 200
    assert {r["body"]["model"] for r in fake.state.requests} == {"native-m"}
    await plan(fake, "native-m", {"kind": "status", "status": 500})
    fake.state.requests.clear()
    assert await post_messages(gw, key) == 200  # the native channel fails: the chat one answers, translated
    assert [r["body"]["model"] for r in fake.state.requests] == ["native-m", "chat-m"]


async def test_sessions_stick_to_one_channel_and_key(gw: Running) -> None:
    """Two channels of equal weight, two keys each: without stickiness a session's turns land on any
    of four (channel, key) pairs; with it every turn after the first finds its prompt cache."""
    fakes = [await start_fake(), await start_fake()]
    try:
        for i, fake in enumerate(fakes):
            await gw.gateway.routing.create_channel(
                name=f"up{i}", protocol="anthropic", base_url=fake.base_url, models={"m": "m"},
                secrets=[f"sk-upstream-{i}-key-a-000001", f"sk-upstream-{i}-key-b-000001"])
        await gw.gateway.state.reload()
        key, _ = await gw.add_key("agent")
        turns = 12
        for _ in range(turns):
            for session in ("sess-A", "sess-B", "sess-C"):
                assert await post_messages(gw, key, {"x-claude-code-session-id": session}) == 200
            assert await post_messages(gw, key) == 200  # no session: spread as before
        seen: dict[str, Counter[str]] = {}
        for n, fake in enumerate(fakes):
            for r in fake.state.requests:
                session = r["headers"].get("x-claude-code-session-id", "-")
                seen.setdefault(session, Counter())[f"{n}:{r['headers']['x-api-key']}"] += 1
        for session in ("sess-A", "sess-B", "sess-C"):
            (_pair, count), = seen[session].items()  # one (channel, key) pair for the whole session
            assert count == turns
        assert len(seen["-"]) > 1  # requests without a session still spread over channels and keys
        assert len(gw.gateway.relay.sessions) == 3  # type: ignore[union-attr]
    finally:
        for fake in fakes:
            await fake.stop()


async def test_a_session_moves_when_its_channel_fails(gw: Running) -> None:
    fakes = [await start_fake(), await start_fake()]
    try:
        for i, fake in enumerate(fakes):
            await gw.gateway.routing.create_channel(name=f"up{i}", protocol="anthropic", base_url=fake.base_url,
                                                    models={"m": "m"}, secrets=[f"sk-upstream-{i}-only-0000001"])
        await gw.gateway.state.reload()
        key, _ = await gw.add_key("agent")
        headers = {"x-claude-code-session-id": "moving"}
        assert await post_messages(gw, key, headers) == 200
        first = 0 if fakes[0].state.requests else 1
        await plan(fakes[first], "m", {"kind": "status", "status": 503})
        assert await post_messages(gw, key, headers) == 200
        other = fakes[1 - first]
        for _ in range(3):
            assert await post_messages(gw, key, headers) == 200
        assert len(other.state.requests) == 4 and len(fakes[first].state.requests) == 2
    finally:
        for fake in fakes:
            await fake.stop()


async def test_prompt_cache_key_names_a_session(gw: Running, fake: FakeUpstream) -> None:
    second = await start_fake()
    try:
        await gw.add_channel(fake, "a", ["m"])
        await gw.add_channel(second, "b", ["m"])
        key, _ = await gw.add_key("codex")
        body: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "hi"}],
                                "prompt_cache_key": "codex-thread-1"}
        async with aiohttp.ClientSession() as s:
            for _ in range(10):
                async with s.post(gw.base_url + "/chat/completions", json=body,
                                  headers={"Authorization": f"Bearer {key}"}) as resp:
                    assert resp.status == 200
        assert sorted([len(fake.state.requests), len(second.state.requests)]) == [0, 10]
    finally:
        await second.stop()
