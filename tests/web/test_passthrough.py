"""Same-dialect pass-through: what the client sent is what the upstream gets, except the key.

Each dialect's real client headers and query string go to a recording fake upstream of the same
dialect; credentials, hop-by-hop headers and the deny-list stay behind; a channel can turn it off.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson
import pytest

from relaygate.fakeupstream import FakeUpstream
from tests.harness import Running

UPSTREAM_SECRET = "sk-upstream-passthrough-0001"

# (protocol, base path, caller path with query, caller headers, body, query the upstream must see)
CASES: dict[str, tuple[str, str, str, dict[str, str], dict[str, Any], dict[str, str]]] = {
    "openai": ("openai", "/v1", "/v1/chat/completions?trace=on", {
        "user-agent": "OpenAI/Python 3.54.0", "x-stainless-os": "Linux", "x-stainless-retry-count": "0",
        "accept": "text/event-stream", "originator": "tests"},
        {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}, {"trace": "on"}),
    "anthropic": ("anthropic", "/v1", "/v1/messages?beta=true", {
        "user-agent": "claude-cli/2.1.197 (external, cli)", "x-app": "cli",
        "x-claude-code-session-id": "3f0c-session", "anthropic-version": "2023-06-01",
        "anthropic-beta": "claude-code-20250219,context-management-2025-06-27", "accept": "application/json",
        "x-stainless-helper-method": "stream"},
        {"model": "m", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}], "stream": True},
        {"beta": "true"}),
    "responses": ("openai-responses", "/v1", "/v1/responses", {
        "user-agent": "codex_exec/0.169.0 (Debian 12; x86_64) dumb", "originator": "codex_exec",
        "session_id": "01a2-codex-session", "x-codex-beta-features": "unified_exec", "accept": "text/event-stream",
        "x-codex-turn-metadata": "{}"},
        {"model": "m", "input": [{"role": "user", "content": [{"type": "input_text", "text": "hi"}]}],
         "stream": True, "prompt_cache_key": "01a2-codex-session", "store": False}, {}),
    "gemini": ("gemini", "/v1beta", "/v1beta/models/m:streamGenerateContent?alt=sse", {
        "user-agent": "GeminiCLI/0.61.0/m (linux; x64)", "x-goog-api-client": "google-genai-sdk/1.30.0 gl-node/v20",
        "accept": "*/*"},
        {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}, {"alt": "sse"}),
}
KEY_HEADER = {"openai": "authorization", "anthropic": "x-api-key", "responses": "authorization",
              "gemini": "x-goog-api-key"}


async def setup(gw: Running, fake: FakeUpstream, dialect: str, **options: Any) -> str:
    protocol, base, *_ = CASES[dialect]
    await gw.gateway.routing.create_channel(name=f"{dialect}-up", protocol=protocol,
                                            base_url=f"http://127.0.0.1:{fake.port}{base}",
                                            secrets=[UPSTREAM_SECRET], models={"m": "up-m"},
                                            options=options or None)
    await gw.gateway.state.reload()
    secret, _ = await gw.add_key("passer")
    return secret


async def send(gw: Running, dialect: str, key: str, extra: dict[str, str] | None = None) -> None:
    _, _, path, headers, body, _ = CASES[dialect]
    auth = {"authorization": f"Bearer {key}"} if KEY_HEADER[dialect] == "authorization" else {KEY_HEADER[dialect]: key}
    hop = {"x-forwarded-for": "203.0.113.9", "x-request-id": "caller-chosen-id", "cookie": "session=abc"}
    async with aiohttp.ClientSession() as s, s.post(gw.root + path, data=orjson.dumps(body),
                                                    headers={**headers, **auth, **hop, **(extra or {})}) as resp:
        assert resp.status == 200, await resp.text()
        await resp.read()


@pytest.mark.parametrize("dialect", list(CASES))
async def test_client_headers_and_query_reach_the_upstream(gw: Running, fake: FakeUpstream, dialect: str) -> None:
    key = await setup(gw, fake, dialect)
    await send(gw, dialect, key)
    _, _, _, headers, _, query = CASES[dialect]
    got = fake.state.requests[-1]
    for name, value in headers.items():
        assert got["headers"].get(name) == value, (name, got["headers"])
    assert dict(pair.split("=", 1) for pair in got["query"].split("&") if pair) == query  # once, no key
    sent = orjson.dumps(got["headers"]).decode() + got["query"]
    assert key not in sent and "203.0.113.9" not in sent and "session=abc" not in sent
    assert got["headers"]["x-request-id"] != "caller-chosen-id"
    upstream_key = got["headers"].get(KEY_HEADER[dialect], "").removeprefix("Bearer ")
    assert upstream_key == UPSTREAM_SECRET


async def test_gemini_key_in_the_query_stays_behind(gw: Running, fake: FakeUpstream) -> None:
    await setup(gw, fake, "gemini")
    secret, _ = await gw.add_key("q")
    body = orjson.dumps(CASES["gemini"][4])
    async with aiohttp.ClientSession() as s, s.post(
            gw.root + f"/v1beta/models/m:generateContent?key={secret}&trace=1", data=body) as resp:
        assert resp.status == 200
    got = fake.state.requests[-1]
    assert secret not in got["query"] and got["query"] == "trace=1"


async def test_a_channel_can_turn_forwarding_off(gw: Running, fake: FakeUpstream) -> None:
    key = await setup(gw, fake, "anthropic", forward_headers=False, forward_query=False)
    await send(gw, "anthropic", key)
    got = fake.state.requests[-1]
    assert "x-app" not in got["headers"] and "x-claude-code-session-id" not in got["headers"]
    assert got["query"] == "" and got["headers"]["anthropic-version"] == "2023-06-01"  # the provider's own


async def test_a_channel_can_list_or_drop_headers(gw: Running, fake: FakeUpstream) -> None:
    key = await setup(gw, fake, "anthropic", forward_headers=["anthropic-beta", "user-agent"])
    await send(gw, "anthropic", key)
    got = fake.state.requests[-1]["headers"]
    assert got["user-agent"].startswith("claude-cli/") and "x-app" not in got
    fake.state.requests.clear()
    key2 = await setup(gw, fake, "openai", drop_headers=["x-stainless-os"])
    await send(gw, "openai", key2)
    got = fake.state.requests[-1]["headers"]
    assert "x-stainless-os" not in got and got["x-stainless-retry-count"] == "0"


async def test_translated_requests_do_not_carry_dialect_headers(gw: Running, fake: FakeUpstream) -> None:
    await gw.add_channel(fake, "chat-up", ["m"])
    key, _ = await gw.add_key("t")
    await send(gw, "anthropic", key)
    got = fake.state.requests[-1]["headers"]
    assert "anthropic-beta" not in got and "x-app" not in got
