"""Vertex AI channels of One API and New API keep working: Gemini and Claude models, through relaygate.

One API (type 42: config.region / vertex_ai_project_id / vertex_ai_adc) and New API (type 41: the key
JSON, region in `other`) Vertex channels become enabled channels of relaygate's vertex provider; Gemini
models go to Google's publisher (generateContent), Claude models to Anthropic's (rawPredict), on a fake
Vertex AI that holds requests to what Vertex requires (checked against the official AnthropicVertex
client below). The old keys are sent through the official openai and anthropic SDKs and plain HTTP.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import openai

from relaygate.core.domain import ChannelRecord
from relaygate.providers import protocols
from relaygate.providers.vertex import PROVIDER as VERTEX
from relaygate.services.migration.importer import run_import
from tests.harness import running_gateway, start_fake
from tests.migration.conftest import Backend
from tests.migration.fixtures import vertex_key
from tests.migration.helpers import source_and_plan

ASK = {"messages": [{"role": "user", "content": "hello"}], "max_tokens": 20}
# (source, gemini model, claude model as callers name it, the name Vertex serves, key, project/region path)
CASES = (("oneapi", "gemini-2.0-flash-001", "claude-3-5-sonnet-v2@20241022", "claude-3-5-sonnet-v2@20241022",
          "laptop", "/v1/projects/acme-prod/locations/us-central1/"),
         ("newapi", "gemini-2.5-pro", "claude-opus-4-1-20250805", "claude-opus-4-1@20250805",
          "na-laptop", "/v1/projects/acme-na/locations/us-east5/"))


async def _seen(root: str) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as s, s.get(f"{root}/_fake/requests") as r:
        return list(await r.json())


async def test_the_fake_vertex_is_held_to_the_official_anthropic_vertex_client() -> None:
    """The official AnthropicVertex client's requests are what the fake accepts (so the gateway test below
    proves relaygate sends what Vertex takes), and a body carrying `model` is refused as Vertex does."""
    fake = await start_fake()
    root = fake.base_url.removesuffix("/v1")
    try:
        channel = ChannelRecord(1, "v", "vertex", root, (vertex_key(root, "p1"),), {}, None, 0, 1, True, None,
                                10.0, 60.0, 600.0, {"project": "p1"})
        async with aiohttp.ClientSession() as session:
            token = await VERTEX.prepare(session, channel, channel.secrets[0])
        client = anthropic.AsyncAnthropicVertex(region="us-central1", project_id="p1", access_token=token,
                                                base_url=f"{root}/v1", max_retries=0)
        answer = await client.messages.create(model="claude-sonnet-4@20250514", **ASK)  # type: ignore[arg-type]
        assert answer.content[0].text and answer.model == "claude-sonnet-4@20250514"  # type: ignore[union-attr]
        async with client.messages.stream(model="claude-sonnet-4@20250514", **ASK) as stream:  # type: ignore[arg-type]
            assert "".join([t async for t in stream.text_stream])
        assert (await client.messages.count_tokens(model="claude-sonnet-4@20250514",
                                                   messages=ASK["messages"])).input_tokens > 0  # type: ignore[arg-type]
        paths = [r["path"] for r in await _seen(root)]
        assert paths == ["/v1/projects/p1/locations/us-central1/publishers/anthropic/models/claude-sonnet-4@20250514"
                         f":{action}" for action in ("rawPredict", "streamRawPredict")] + [
            "/v1/projects/p1/locations/us-central1/publishers/anthropic/models/count-tokens:rawPredict"]
        bearer = {"Authorization": f"Bearer {token}"}
        async with aiohttp.ClientSession() as s, s.post(f"{root}{paths[0]}", headers=bearer, json={
                "model": "x", "anthropic_version": "vertex-2023-10-16", **ASK}) as r:
            assert r.status == 400 and "model" in (await r.json())["error"]["message"]
    finally:
        await fake.stop()


async def test_vertex_channels_serve_gemini_and_claude(backend: Backend, tmp_path: Path) -> None:
    fake = await start_fake()
    try:
        async with running_gateway(backend.dst_url, data_dir=str(tmp_path)) as gw:
            root = fake.base_url.removesuffix("/v1")
            for kind, gemini, claude, on_vertex, key_name, path in CASES:
                src_base = root if kind == "oneapi" else fake.base_url
                facts, plan = await source_and_plan(backend, kind, src_base, int(time.time()), protocols())
                vertex = next(c for c in plan["channels"] if c["type_name"] == "VertexAI")
                assert vertex["protocol"] == "vertex" and vertex["enabled"], vertex["disabled_reason"]
                assert vertex["options"]["key_type"] == "service_account"
                assert vertex["models"][claude] == on_vertex  # New API's names for Vertex carried
                assert any("Anthropic publisher" in n for n in vertex["notes"])
                entry = {m["old_name"]: m for m in plan["models"]}[claude]
                assert entry["class"] == "same", entry["risk"]
                if kind == "newapi":
                    assert any("europe-west4" in n for n in vertex["notes"])  # per-model regions said plainly
                await run_import(plan, gw.gateway.engine, gw.gateway.settings, protocols(), apply=True)
                await gw.gateway.state.reload()
                await gw.gateway.balance_sync.apply_credits()
                key = "sk-" + facts.tokens[key_name].key
                oai = openai.AsyncOpenAI(base_url=gw.base_url, api_key=key, max_retries=0)
                for model in (gemini, claude):
                    raw = await oai.chat.completions.with_raw_response.create(model=model, **ASK)  # type: ignore[call-overload]
                    assert raw.http_response.status_code == 200 and raw.parse().choices[0].message.content
                    stream = await oai.chat.completions.create(model=model, stream=True, **ASK)  # type: ignore[call-overload]
                    assert "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
                    async with aiohttp.ClientSession() as s, s.post(
                            f"{gw.base_url}/chat/completions", json={"model": model, **ASK},
                            headers={"Authorization": f"Bearer {key}"}) as resp:
                        assert resp.status == 200 and (await resp.json())["choices"][0]["message"]["content"]
                # Claude callers (Claude Code, the anthropic SDK) reach the same channel natively
                ant = anthropic.AsyncAnthropic(base_url=gw.root, api_key=key, max_retries=0)
                message = await ant.messages.create(model=claude, **ASK)  # type: ignore[arg-type]
                assert message.content[0].text and message.usage.output_tokens > 0  # type: ignore[union-attr]
                async with ant.messages.stream(model=claude, **ASK) as events:  # type: ignore[arg-type]
                    assert "".join([t async for t in events.text_stream])
                counted = await ant.messages.count_tokens(model=claude, messages=ASK["messages"])  # type: ignore[arg-type]
                assert counted.input_tokens > 0
                seen = [q["path"] for q in await _seen(root)]
                assert any(p.startswith(path) and p.endswith(f"{gemini}:generateContent") for p in seen), seen
                assert any(p.endswith(f"{gemini}:streamGenerateContent") for p in seen)
                anthropic_path = f"{path}publishers/anthropic/models/{on_vertex}"
                assert sum(p == f"{anthropic_path}:rawPredict" for p in seen) == 3  # openai SDK, HTTP, anthropic SDK
                assert sum(p == f"{anthropic_path}:streamRawPredict" for p in seen) == 2
                assert f"{path}publishers/anthropic/models/count-tokens:rawPredict" in seen
                bodies = [q["body"] for q in await _seen(root) if "/publishers/anthropic/" in q["path"]]
                assert all(b["anthropic_version"] == "vertex-2023-10-16" for b in bodies)
                usage = await gw.usage_rows()
                assert sum(u["upstream_model"] == on_vertex and u["requested_model"] == claude and u["status"] == 200
                           and u["completion_tokens"] > 0 for u in usage) == 5  # each one billed on its usage
                async with aiohttp.ClientSession() as s:
                    await s.post(f"{root}/_fake/reset")
    finally:
        await fake.stop()
