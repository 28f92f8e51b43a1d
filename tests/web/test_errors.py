"""Every failure a caller can hit: status, stable code, a message that says what to change, SDK mapping."""

from __future__ import annotations

from typing import Any

import aiohttp
import openai
import pytest

from relaygate.core.clock import now_ms
from relaygate.fakeupstream import FakeUpstream
from tests.harness import Running, plan


async def post(gw: Running, body: Any, headers: dict[str, str] | None = None,
               path: str = "/v1/chat/completions") -> tuple[int, dict[str, Any], dict[str, str]]:
    async with aiohttp.ClientSession() as s:
        kwargs: dict[str, Any] = {"data": body} if isinstance(body, bytes) else {"json": body}
        async with s.post(gw.root + path, headers=headers or {}, **kwargs) as resp:
            return resp.status, await resp.json(content_type=None), {k.lower(): v for k, v in resp.headers.items()}


def chat(model: str = "gpt-4o-mini") -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
async def ready(gw: Running, fake: FakeUpstream) -> tuple[Running, FakeUpstream, str]:
    await gw.add_channel(fake, "main", {"gpt-4o-mini": "gpt-4o-mini", "gpt-4o": "gpt-4o"})
    secret, _ = await gw.add_key("alice")
    return gw, fake, secret


def assert_envelope(body: dict[str, Any], code: str, headers: dict[str, str]) -> str:
    err = body["error"]
    assert err["code"] == code
    assert err["request_id"] == headers["x-request-id"]
    assert err["request_id"] in err["message"]
    return str(err["message"])


async def test_key_errors_each_say_which(ready: tuple[Running, FakeUpstream, str]) -> None:
    gw, _, _secret = ready
    status, body, headers = await post(gw, chat())
    assert status == 401 and "No API key" in assert_envelope(body, "missing_api_key", headers)
    status, body, headers = await post(gw, chat(), {"Authorization": "Bearer sk-" + "x" * 48})
    msg = assert_envelope(body, "invalid_api_key", headers)
    assert status == 401 and "sk-xxxx…xxxx" in msg and "x" * 20 not in msg
    _, key_id = await gw.add_key("bob", name="off")
    await gw.gateway.accounts.update_key(key_id, enabled=False, disabled_reason="left the team")
    view = await gw.gateway.accounts.get_key(key_id)
    assert view["enabled"] is False
    await gw.gateway.state.reload()
    secret2, key2 = await gw.add_key("bob", name="old", expires_at=now_ms() - 1000)
    status, body, headers = await post(gw, chat(), {"Authorization": f"Bearer {secret2}"})
    assert status == 401 and key2 in assert_envelope(body, "key_expired", headers)


async def test_disabled_key_names_the_reason(ready: tuple[Running, FakeUpstream, str]) -> None:
    gw, _, _ = ready
    secret, key_id = await gw.add_key("bob", name="to-disable")
    await gw.gateway.accounts.update_key(key_id, enabled=False, disabled_reason="left the team")
    await gw.gateway.state.reload()
    client = openai.AsyncOpenAI(base_url=gw.base_url, api_key=secret, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as info:
        await client.chat.completions.create(**chat())
    assert info.value.code == "key_disabled" and "left the team" in info.value.message


async def test_network_and_model_permissions(ready: tuple[Running, FakeUpstream, str]) -> None:
    gw, _, _ = ready
    secret, _key_id = await gw.add_key("carol", allowed_networks=["10.0.0.0/8"])
    client = openai.AsyncOpenAI(base_url=gw.base_url, api_key=secret, max_retries=0)
    with pytest.raises(openai.PermissionDeniedError) as info:
        await client.chat.completions.create(**chat())
    assert info.value.code == "network_not_allowed" and "10.0.0.0/8" in info.value.message
    secret, _ = await gw.add_key("carol", allowed_models=["gpt-4o-mini"], allowed_networks=["127.0.0.0/8"])
    client = openai.AsyncOpenAI(base_url=gw.base_url, api_key=secret, max_retries=0)
    await client.chat.completions.create(**chat())
    with pytest.raises(openai.PermissionDeniedError) as info:
        await client.chat.completions.create(**chat("gpt-4o"))
    assert info.value.code == "model_not_allowed" and "gpt-4o-mini" in info.value.message
    assert [m.id for m in (await client.models.list()).data] == ["gpt-4o-mini"]


async def test_group_limits_models(ready: tuple[Running, FakeUpstream, str]) -> None:
    gw, _, _ = ready
    await gw.gateway.accounts.upsert_group("cheap", ["gpt-4o-mini"])
    secret, _ = await gw.add_key("dave", group="cheap")
    client = openai.AsyncOpenAI(base_url=gw.base_url, api_key=secret, max_retries=0)
    with pytest.raises(openai.PermissionDeniedError):
        await client.chat.completions.create(**chat("gpt-4o"))
    assert [m.id for m in (await client.models.list()).data] == ["gpt-4o-mini"]


async def test_model_not_found_unsupported_and_alias(ready: tuple[Running, FakeUpstream, str]) -> None:
    gw, fake, secret = ready
    client = openai.AsyncOpenAI(base_url=gw.base_url, api_key=secret, max_retries=0)
    with pytest.raises(openai.NotFoundError) as info:
        await client.chat.completions.create(**chat("gpt-4o-mni"))
    assert info.value.code == "model_not_found" and "'gpt-4o-mini'" in info.value.message
    await gw.gateway.routing.upsert_model("gpt-4o-mini", aliases=["gpt-35-turbo"])
    await gw.gateway.routing.upsert_model("gpt-4-32k", status="unsupported", replacement="gpt-4o")
    await gw.gateway.state.reload()
    with pytest.raises(openai.NotFoundError) as info:
        await client.chat.completions.create(**chat("gpt-4-32k"))
    assert info.value.code == "model_unsupported" and "'gpt-4o'" in info.value.message
    resp = await client.chat.completions.create(**chat("gpt-35-turbo"))
    assert resp.choices[0].message.content
    assert fake.state.requests[-1]["body"]["model"] == "gpt-4o-mini"


async def test_bad_requests(ready: tuple[Running, FakeUpstream, str]) -> None:
    gw, _, secret = ready
    auth = {"Authorization": f"Bearer {secret}"}
    status, body, headers = await post(gw, b"{not json", auth)
    assert status == 400 and "not valid JSON" in assert_envelope(body, "bad_request", headers)
    status, body, headers = await post(gw, {"messages": []}, auth)
    assert status == 400 and "'model'" in assert_envelope(body, "bad_request", headers)
    status, body, headers = await post(gw, {"model": "gpt-4o-mini", "messages": "hi"}, auth)
    assert status == 400 and "'messages'" in assert_envelope(body, "bad_request", headers)


async def test_body_too_large(gw: Running, fake: FakeUpstream) -> None:
    gw.gateway.settings = gw.gateway.settings  # settings are read at app build: use a small limit app
    from tests.harness import running_gateway

    async with running_gateway(gw.gateway.settings.database_url.replace("relaygate.db", "small.db"),
                               max_body_bytes=1000) as small:
        await small.add_channel(fake, "main", ["gpt-4o-mini"])
        secret, _ = await small.add_key()
        big = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x" * 5000}]}
        status, body, headers = await post(small, big, {"Authorization": f"Bearer {secret}"})
        assert status == 413 and "1000" in assert_envelope(body, "body_too_large", headers)
        rows = await small.usage_rows()
        assert rows[0]["error_code"] == "body_too_large" and rows[0]["status"] == 413


async def test_chinese_messages(ready: tuple[Running, FakeUpstream, str]) -> None:
    gw, _, _ = ready
    status, body, headers = await post(gw, chat(), {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
    assert status == 401 and "没有 API Key" in assert_envelope(body, "missing_api_key", headers)


async def test_wrong_method_and_unknown_path(ready: tuple[Running, FakeUpstream, str]) -> None:
    gw, _, _ = ready
    async with aiohttp.ClientSession() as s:
        async with s.get(gw.base_url + "/chat/completions") as resp:
            assert resp.status == 405
            assert (await resp.json())["error"]["code"] == "method_not_allowed"
        async with s.post(gw.root + "/v1/v1/chat/completions", json={}) as resp:
            assert resp.status == 404
            msg = (await resp.json())["error"]["message"]
            assert f"http://127.0.0.1:{gw.port}/v1" in msg


async def test_upstream_secret_never_reaches_caller(ready: tuple[Running, FakeUpstream, str]) -> None:
    gw, fake, secret = ready
    leak = "sk-upstreamSECRETvalue1234567890abcdefghijkl"
    await plan(fake, "gpt-4o-mini", *[{"kind": "status", "status": 401, "body": {
        "error": {"message": f"Incorrect API key provided: {leak}"}}}] * 3)
    status, body, _headers = await post(gw, chat(), {"Authorization": f"Bearer {secret}"})
    assert status == 502
    assert leak not in str(body) and "Incorrect API key provided" in body["error"]["message"]
    rows = await gw.usage_rows()
    assert leak not in str(rows) and secret not in str(rows)


async def test_upstream_client_error_is_relayed_not_retried(ready: tuple[Running, FakeUpstream, str]) -> None:
    gw, fake, secret = ready
    await plan(fake, "gpt-4o-mini", {"kind": "status", "status": 400, "body": {
        "error": {"message": "max_tokens is too large: 999999"}}})
    client = openai.AsyncOpenAI(base_url=gw.base_url, api_key=secret, max_retries=0)
    with pytest.raises(openai.BadRequestError) as info:
        await client.chat.completions.create(**chat())
    assert info.value.code == "upstream_rejected" and "max_tokens is too large" in info.value.message
    assert len(fake.state.requests) == 1
