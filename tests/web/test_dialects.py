"""Every dialect through relaygate with the official SDKs as clients, against upstreams of each kind."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import anthropic
import openai
import orjson
import pytest
from google import genai
from google.genai import types as gtypes

from relaygate.fakeupstream import FakeUpstream
from tests.harness import Running

HELLO = [{"role": "user", "content": "hello there"}]


async def channel(gw: Running, fake: FakeUpstream, protocol: str, model: str = "m") -> None:
    base = {"openai": fake.base_url, "anthropic": fake.base_url,
            "gemini": f"http://127.0.0.1:{fake.port}/v1beta"}[protocol]
    await gw.gateway.routing.create_channel(name=f"{protocol}-up", protocol=protocol, base_url=base,
                                            secrets=["sk-upstream-dialect-0001"], models={model: f"up-{model}"})
    await gw.gateway.state.reload()


@pytest.fixture
async def key(gw: Running) -> str:
    secret, _ = await gw.add_key("dialects")
    return secret


# --- Anthropic surface ----------------------------------------------------------------------------

@pytest.mark.parametrize("upstream", ["anthropic", "openai", "gemini"])
async def test_anthropic_sdk_non_stream(gw: Running, fake: FakeUpstream, key: str, upstream: str) -> None:
    await channel(gw, fake, upstream)
    client = anthropic.AsyncAnthropic(base_url=gw.root, api_key=key, max_retries=0)
    msg = await client.messages.create(model="m", max_tokens=64, messages=HELLO)  # type: ignore[arg-type]
    assert msg.content[0].type == "text" and "You said: hello there" in msg.content[0].text
    assert msg.stop_reason == "end_turn" and msg.usage.input_tokens > 0 and msg.usage.output_tokens > 0
    rec = (await gw.usage_rows())[0]
    assert rec["entry_path"] == "/v1/messages" and rec["client"] == "anthropic-python"
    assert rec["prompt_tokens"] == msg.usage.input_tokens and rec["upstream_model"] == "up-m"


@pytest.mark.parametrize("upstream", ["anthropic", "openai", "gemini"])
async def test_anthropic_sdk_stream(gw: Running, fake: FakeUpstream, key: str, upstream: str) -> None:
    await channel(gw, fake, upstream)
    client = anthropic.AsyncAnthropic(base_url=gw.root, auth_token=key, max_retries=0)  # Bearer, like the SDKs
    async with client.messages.stream(model="m", max_tokens=64, messages=HELLO) as stream:  # type: ignore[arg-type]
        text = "".join([t async for t in stream.text_stream])
        final = await stream.get_final_message()
    assert "You said: hello there" in text and final.stop_reason == "end_turn"
    rec = (await gw.usage_rows())[0]
    assert rec["stream"] is True and rec["completion_tokens"] > 0 and rec["error_code"] is None


async def test_anthropic_passthrough_keeps_bytes_and_headers(gw: Running, fake: FakeUpstream, key: str) -> None:
    await channel(gw, fake, "anthropic", "claude-x")
    body = {"model": "claude-x", "max_tokens": 10, "messages": HELLO, "thinking": {"type": "adaptive"},
            "context_management": {"edits": []}, "system": [{"type": "text", "text": "s",
                                                              "cache_control": {"type": "ephemeral"}}]}
    async with aiohttp.ClientSession() as s:
        async with s.post(gw.root + "/v1/messages?beta=true", data=orjson.dumps(body), headers={
                "x-api-key": key, "anthropic-version": "2023-06-01", "anthropic-beta": "context-management-2025",
                "User-Agent": "claude-cli/2.1.197 (external, cli)"}) as resp:
            assert resp.status == 200
    sent = fake.state.requests[-1]
    assert sent["body"] == {**body, "model": "up-claude-x"}
    assert sent["headers"]["anthropic-beta"] == "context-management-2025"
    assert sent["headers"]["x-api-key"] == "sk-upstream-dialect-0001"
    assert (await gw.usage_rows())[0]["client"] == "claude-code"


async def test_anthropic_errors_come_in_anthropic_shape(gw: Running, fake: FakeUpstream, key: str) -> None:
    await channel(gw, fake, "anthropic")
    bad = anthropic.AsyncAnthropic(base_url=gw.root, api_key="sk-" + "z" * 48, max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as info:
        await bad.messages.create(model="m", max_tokens=5, messages=HELLO)  # type: ignore[arg-type]
    body: Any = info.value.body
    assert body["type"] == "error" and body["error"]["type"] == "authentication_error"
    good = anthropic.AsyncAnthropic(base_url=gw.root, api_key=key, max_retries=0)
    with pytest.raises(anthropic.NotFoundError):
        await good.messages.create(model="nope", max_tokens=5, messages=HELLO)  # type: ignore[arg-type]


@pytest.mark.parametrize("upstream", ["anthropic", "openai"])
async def test_count_tokens(gw: Running, fake: FakeUpstream, key: str, upstream: str) -> None:
    await channel(gw, fake, upstream)
    client = anthropic.AsyncAnthropic(base_url=gw.root, api_key=key, max_retries=0)
    counted = await client.messages.count_tokens(model="m", messages=HELLO)  # type: ignore[arg-type]
    assert counted.input_tokens > 0
    assert any(r["path"] == "/v1/messages/count_tokens" for r in fake.state.requests) == (upstream == "anthropic")


# --- OpenAI surface against other upstreams ------------------------------------------------------------

@pytest.mark.parametrize("upstream", ["anthropic", "gemini"])
async def test_openai_sdk_against_other_dialects(gw: Running, fake: FakeUpstream, key: str, upstream: str) -> None:
    await channel(gw, fake, upstream)
    client = openai.AsyncOpenAI(base_url=gw.base_url, api_key=key, max_retries=0)
    resp = await client.chat.completions.create(model="m", messages=HELLO)  # type: ignore[arg-type]
    assert "You said: hello there" in (resp.choices[0].message.content or "")
    assert resp.usage is not None and resp.usage.prompt_tokens > 0
    stream = await client.chat.completions.create(model="m", messages=HELLO, stream=True)  # type: ignore[arg-type]
    text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
    assert text.endswith("You said: hello there")


# --- Gemini surface ---------------------------------------------------------------------------------------

def gemini_client(gw: Running, key: str) -> genai.Client:
    return genai.Client(api_key=key, http_options=gtypes.HttpOptions(base_url=gw.root))


@pytest.mark.parametrize("upstream", ["gemini", "openai", "anthropic"])
async def test_gemini_sdk(gw: Running, fake: FakeUpstream, key: str, upstream: str) -> None:
    await channel(gw, fake, upstream)
    client = gemini_client(gw, key)
    resp = await client.aio.models.generate_content(model="m", contents="hello there")
    assert resp.text is not None and "You said: hello there" in resp.text
    chunks = [c.text or "" async for c in await client.aio.models.generate_content_stream(model="m",
                                                                                           contents="hello there")]
    assert "".join(chunks).endswith("You said: hello there")
    rows = await gw.usage_rows()
    assert {r["entry_path"].split("/models/")[1] for r in rows} == {"m:generateContent",
                                                                     "m:streamGenerateContent"}


async def test_gemini_json_mode_survives(gw: Running, fake: FakeUpstream, key: str) -> None:
    await channel(gw, fake, "gemini")
    client = gemini_client(gw, key)
    resp = await client.aio.models.generate_content(
        model="m", contents="route this", config=gtypes.GenerateContentConfig(response_mime_type="application/json"))
    assert resp.text is not None and orjson.loads(resp.text)["ok"] is True


# --- Responses surface --------------------------------------------------------------------------------------

@pytest.mark.parametrize("upstream", ["openai", "anthropic"])
async def test_responses_sdk(gw: Running, fake: FakeUpstream, key: str, upstream: str) -> None:
    await channel(gw, fake, upstream)
    client = openai.AsyncOpenAI(base_url=gw.base_url, api_key=key, max_retries=0)
    resp = await client.responses.create(model="m", input=[{"role": "developer", "content": "be brief"},
                                                           {"role": "user", "content": "hello there"}])
    assert "You said: hello there" in resp.output_text
    stream = await client.responses.create(model="m", input="hello there", stream=True)
    kinds = []
    text = ""
    async for event in stream:
        kinds.append(event.type)
        if event.type == "response.output_text.delta":
            text += event.delta
    assert text.endswith("You said: hello there") and kinds[-1] == "response.completed"


async def test_codex_websocket_attempt_is_refused_fast(gw: Running) -> None:
    import websockets

    started = asyncio.get_running_loop().time()
    with pytest.raises(websockets.exceptions.InvalidStatus):
        async with websockets.connect(f"ws://127.0.0.1:{gw.port}/v1/responses"):
            pass
    assert asyncio.get_running_loop().time() - started < 1.0
