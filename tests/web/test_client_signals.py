"""What each dialect's clients read on a failure: retry signals, error types, no upstream address; the
Codex WebSocket answer; and how fast a channel is back after its upstream recovers."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import orjson
import pytest

from relaygate.fakeupstream import FakeUpstream
from tests.harness import Running, free_socket, running_gateway, start_fake

HELLO = [{"role": "user", "content": "hello"}]


def request_for(dialect: str, gw: Running, key: str, model: str = "m") -> tuple[str, dict[str, str], bytes]:
    if dialect == "openai":
        return (gw.base_url + "/chat/completions", {"Authorization": f"Bearer {key}"},
                orjson.dumps({"model": model, "messages": HELLO}))
    if dialect == "anthropic":
        return (gw.root + "/v1/messages?beta=true", {"x-api-key": key, "anthropic-version": "2023-06-01"},
                orjson.dumps({"model": model, "max_tokens": 20, "messages": HELLO}))
    if dialect == "responses":
        return (gw.base_url + "/responses", {"Authorization": f"Bearer {key}"},
                orjson.dumps({"model": model, "input": "hello"}))
    return (gw.root + f"/v1beta/models/{model}:generateContent", {"x-goog-api-key": key},
            orjson.dumps({"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}))


async def call(dialect: str, gw: Running, key: str, model: str = "m",
               extra: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    url, headers, body = request_for(dialect, gw, key, model)
    async with aiohttp.ClientSession() as s, s.post(url, data=body, headers={**headers, **(extra or {})}) as resp:
        return resp.status, {k.lower(): v for k, v in resp.headers.items()}, await resp.json()


def message_of(dialect: str, body: Any) -> str:
    return str(body["error"]["message"])


DIALECTS = ["openai", "anthropic", "responses", "gemini"]


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_wrong_key_says_do_not_retry(gw: Running, fake: FakeUpstream, dialect: str) -> None:
    await gw.add_channel(fake, "up", ["m"])
    status, headers, body = await call(dialect, gw, "sk-relaygate-no-such-key-000000000000")
    assert status == 401 and headers["x-should-retry"] == "false" and "retry-after" not in headers
    assert "is not known to this gateway" in message_of(dialect, body)


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_model_not_allowed_reads_right(gw: Running, fake: FakeUpstream, dialect: str) -> None:
    await gw.add_channel(fake, "up", ["m", "other"])
    key, _ = await gw.add_key("limited", allowed_models=["other"])
    status, headers, body = await call(dialect, gw, key)
    assert headers["x-should-retry"] == "false" and "may not use model 'm'" in message_of(dialect, body)
    if dialect == "anthropic":  # a 403 would read "Failed to authenticate" in Claude Code
        assert status == 400 and body["error"]["type"] == "invalid_request_error"
    else:
        assert status == 403
    rows = await gw.usage_rows()
    assert rows[0]["status"] == 403 and rows[0]["error_code"] == "model_not_allowed"


async def test_codex_gets_a_status_it_does_not_retry(gw: Running, fake: FakeUpstream) -> None:
    await gw.add_channel(fake, "up", ["m"])
    status, headers, body = await call("responses", gw, "sk-relaygate-no-such-key-000000000000",
                                       extra={"User-Agent": "codex_exec/0.169.0 (Debian; x86_64)",
                                              "originator": "codex_exec"})
    assert status == 400 and body["error"]["code"] == "invalid_api_key" and headers["x-should-retry"] == "false"


async def test_rate_limit_keeps_retry_after(gw: Running, fake: FakeUpstream) -> None:
    await gw.add_channel(fake, "up", ["m"])
    key, _ = await gw.add_key("busy", rpm=1)
    assert (await call("anthropic", gw, key))[0] == 200
    status, headers, body = await call("anthropic", gw, key)
    assert status == 429 and int(headers["retry-after"]) >= 1 and "x-should-retry" not in headers
    assert body["error"]["type"] == "rate_limit_error"


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_upstream_down_hides_the_address_and_is_final(gw: Running, dialect: str,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    await gw.gateway.routing.create_channel(name="down", base_url=f"http://127.0.0.1:{port}/v1",
                                            secrets=["sk-upstream-test-secret-0001"], models=["m"])
    await gw.gateway.state.reload()
    key, _ = await gw.add_key("user")
    status, headers, body = await call(dialect, gw, key)
    text = orjson.dumps(body).decode()
    assert str(port) not in text and "127.0.0.1" not in text and "connection refused" in text
    assert headers["x-should-retry"] == "false" and "retry-after" not in headers
    if dialect == "anthropic":
        assert status == 502 and body["error"]["type"] == "api_error"  # not overloaded_error ("529 Overloaded")
    if dialect == "gemini":  # Gemini CLI stops only on a 503 whose RetryInfo is beyond 300 s
        assert status == 503 and {"@type": "type.googleapis.com/google.rpc.RetryInfo",
                                  "retryDelay": "600s"} in body["error"]["details"]
    rec = (await gw.usage_rows())[0]
    assert f"127.0.0.1', {port})" in rec["detail"]["attempts"][0]["reason"]  # the operator keeps it
    assert any(f"127.0.0.1:{port}" in r.getMessage() for r in caplog.records if r.name == "relaygate.relay")


async def test_no_healthy_channel_is_api_error_for_anthropic(gw: Running, fake: FakeUpstream) -> None:
    await gw.add_channel(fake, "up", ["m"])
    key, _ = await gw.add_key("user")
    for cid in gw.gateway.state.snapshot.channels:
        for _ in range(5):
            gw.gateway.health.failure(cid, "test")
    status, headers, body = await call("anthropic", gw, key)
    assert status == 503 and body["error"]["type"] == "api_error" and headers["x-should-retry"] == "false"


async def test_codex_websocket_attempt_is_answered_426(gw: Running) -> None:
    async with aiohttp.ClientSession() as s:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await s.ws_connect(gw.base_url.replace("http", "ws") + "/responses")
    assert info.value.status == 426


async def test_channel_is_back_within_seconds_of_its_upstream(tmp_path: Any) -> None:
    """Cool-down 30 s, but probes every 0.3 s while cooling: back well before the cool-down ends."""
    fake = await start_fake()
    port = fake.port
    async with running_gateway(f"sqlite+aiosqlite:///{tmp_path}/r.db", data_dir=str(tmp_path), cooldown_seconds=30.0,
                               recovery_probe_seconds=0.3, failure_threshold=1) as gw:
        cid = await gw.add_channel(fake, "up", ["m"])
        key, _ = await gw.add_key("user")
        await fake.stop()
        assert (await call("openai", gw, key))[0] == 502
        assert not gw.gateway.health.is_available(cid)
        await asyncio.sleep(1.0)  # probes fail meanwhile: the channel keeps cooling
        assert not gw.gateway.health.is_available(cid)
        back = FakeUpstream()
        await back.start(port=port)
        try:
            started = time.monotonic()
            while not gw.gateway.health.is_available(cid):
                assert time.monotonic() - started < 3.0, "channel still cooling 3 s after its upstream came back"
                await asyncio.sleep(0.05)
            assert (await call("openai", gw, key))[0] == 200
        finally:
            await back.stop()
