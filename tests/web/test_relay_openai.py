"""The main paths through the official openai SDK: chat (stream and not), completions, embeddings, models."""

from __future__ import annotations

import aiohttp
import openai
import pytest

from relaygate.fakeupstream import FakeUpstream
from tests.harness import Running

Setup = tuple[Running, FakeUpstream, str, openai.AsyncOpenAI]


@pytest.fixture
async def setup(gw: Running, fake: FakeUpstream) -> Setup:
    await gw.add_channel(fake, "main", {"gpt-4o-mini": "upstream-mini", "text-embedding-3-small":
                                        "text-embedding-3-small", "gpt-3.5-turbo-instruct": "instruct"})
    secret, _ = await gw.add_key("alice", environment="testing")
    client = openai.AsyncOpenAI(base_url=gw.base_url, api_key=secret, max_retries=0)
    return gw, fake, secret, client


async def test_chat_non_stream_and_its_usage_record(setup: Setup) -> None:
    gw, fake, secret, client = setup
    raw = await client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "ping"}])
    resp = raw.parse()
    rid = raw.headers["x-request-id"]
    assert rid.startswith("req_")
    assert "You said: ping" in (resp.choices[0].message.content or "")
    assert resp.usage is not None and resp.usage.total_tokens > 0
    upstream = fake.state.requests[-1]
    assert upstream["body"]["model"] == "upstream-mini"  # mapped
    assert upstream["headers"]["authorization"] == "Bearer sk-upstream-test-secret-0001"
    assert upstream["headers"]["x-request-id"] == rid
    rec = await gw.usage_for(rid)
    assert rec["status"] == 200 and rec["error_code"] is None
    assert rec["requested_model"] == "gpt-4o-mini" and rec["upstream_model"] == "upstream-mini"
    assert rec["client"] == "openai-python" and rec["client_version"] == openai.__version__
    assert rec["environment"] == "testing" and rec["group_name"] == "default"
    assert rec["masked_key"].startswith("sk-") and "…" in rec["masked_key"]
    assert secret not in str(rec)
    assert rec["prompt_tokens"] == resp.usage.prompt_tokens
    assert rec["completion_tokens"] == resp.usage.completion_tokens
    assert rec["entry_path"] == "/v1/chat/completions" and rec["host"] == f"127.0.0.1:{gw.port}"
    assert rec["caller_ip"] == "127.0.0.1" and rec["attempts"] == 1 and rec["stream"] is False
    assert rec["estimated"] is False and rec["latency_ms"] >= 0


async def test_chat_stream_relays_every_chunk_and_records_ttft(
        setup: Setup) -> None:
    gw, fake, _, client = setup
    stream = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "stream please"}], stream=True)
    chunks = [c async for c in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.endswith("You said: stream please")
    # the gateway asked upstream for usage, but the caller did not: that chunk is not shown
    assert fake.state.requests[-1]["body"]["stream_options"] == {"include_usage": True}
    assert all(c.choices for c in chunks)
    rows = await gw.usage_rows()
    rec = rows[0]
    assert rec["stream"] is True and rec["status"] == 200 and rec["error_code"] is None
    assert rec["completion_tokens"] > 0 and rec["estimated"] is False
    assert rec["ttft_ms"] is not None and rec["ttft_ms"] <= rec["latency_ms"]


async def test_stream_with_caller_usage_keeps_the_usage_chunk(
        setup: Setup) -> None:
    _, _, _, client = setup
    stream = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True,
        stream_options={"include_usage": True})
    chunks = [c async for c in stream]
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0


async def test_legacy_completions_embeddings_and_models(
        setup: Setup) -> None:
    _gw, fake, _, client = setup
    comp = await client.completions.create(model="gpt-3.5-turbo-instruct", prompt="say hi")
    assert "You said: say hi" in comp.choices[0].text
    stream = await client.completions.create(model="gpt-3.5-turbo-instruct", prompt="x", stream=True)
    assert "".join([c.choices[0].text async for c in stream if c.choices]).endswith("You said: x")
    emb = await client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    assert len(emb.data) == 2 and len(emb.data[0].embedding) == 8
    assert fake.state.requests[-1]["body"]["encoding_format"] == "base64"  # SDK default passes through
    models = await client.models.list()
    assert sorted(m.id for m in models.data) == ["gpt-3.5-turbo-instruct", "gpt-4o-mini",
                                                 "text-embedding-3-small"]
    one = await client.models.retrieve("gpt-4o-mini")
    assert one.id == "gpt-4o-mini"
    with pytest.raises(openai.NotFoundError):
        await client.models.retrieve("nope")


async def test_paths_without_v1_and_unknown_fields_pass_through(
        setup: Setup) -> None:
    gw, fake, secret, _ = setup
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}],
            "vendor_extension": {"keep": [1, 2]}, "temperature": 0.3, "seed": 7}
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{gw.root}/chat/completions", json=body,
                          headers={"x-api-key": secret}) as resp:
            assert resp.status == 200
        async with s.get(f"{gw.root}/models", headers={"api-key": secret}) as resp:
            assert resp.status == 200
    sent = fake.state.requests[-1]["body"]
    assert sent["vendor_extension"] == {"keep": [1, 2]} and sent["seed"] == 7 and sent["temperature"] == 0.3
    assert sent["model"] == "upstream-mini"


async def test_unchanged_body_is_forwarded_byte_for_byte(gw: Running, fake: FakeUpstream) -> None:
    await gw.add_channel(fake, "same", ["same-name"])
    secret, _ = await gw.add_key()
    raw = '{"model":"same-name",  "messages":[{"role":"user","content":"bytes"}],"z":1.50}'
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{gw.base_url}/chat/completions", data=raw.encode(),
                          headers={"Authorization": f"Bearer {secret}"}) as resp:
            assert resp.status == 200
    assert fake.state.requests[-1]["raw"] == raw
