"""Upstreams that compress their answers (most real ones behind a CDN do when asked): the relay reads
usage from the bodies it relays, so it asks for identity bytes, and callers always get bytes they can read."""

from __future__ import annotations

import aiohttp
import openai

from relaygate.fakeupstream import FakeUpstream
from tests.harness import Running, start_fake
from tests.web.test_legacy_route import Routing

MSG = [{"role": "user", "content": "hi"}]


async def test_a_compressing_upstream_is_relayed_and_charged(gw: Running, fake: FakeUpstream) -> None:
    fake.state.compress = True
    await gw.add_channel(fake, "cdn", ["m"])
    secret, _ = await gw.add_key()
    client = openai.AsyncOpenAI(base_url=gw.base_url, api_key=secret, max_retries=0)
    resp = await client.chat.completions.create(model="m", messages=MSG)
    assert resp.choices[0].message.content and resp.usage is not None and resp.usage.completion_tokens > 0
    stream = await client.chat.completions.create(model="m", messages=MSG, stream=True)
    assert "".join([c.choices[0].delta.content or "" async for c in stream if c.choices]).endswith("said: hi")
    assert {r["headers"].get("accept-encoding") for r in fake.state.requests} == {"identity"}
    rows = await gw.usage_rows()
    assert [r["status"] for r in rows] == [200, 200] and all(r["completion_tokens"] > 0 for r in rows)


async def test_the_old_entry_compressing_its_answer_reaches_the_caller_readable(gw: Running) -> None:
    old = await start_fake()
    gw.fakes.append(old)
    old.state.compress = True
    secret, key_id = await gw.add_key("old-user")
    assert gw.gateway.relay is not None
    gw.gateway.relay.legacy = Routing(f"http://127.0.0.1:{old.port}", {key_id}, unknown=False)
    async with aiohttp.ClientSession() as s:  # asks for gzip, as the SDKs do
        for stream in (False, True):
            async with s.post(gw.base_url + "/chat/completions", headers={"Authorization": f"Bearer {secret}"},
                              json={"model": "m", "messages": MSG, "stream": stream}) as r:
                assert r.status == 200
                text = await r.text()
                assert ("[DONE]" in text and '"content":"' in text) if stream else "said: hi" in text, text[:200]
    rows = await gw.usage_rows()
    assert sorted(r["stream"] for r in rows) == [False, True] and all(r["prompt_tokens"] for r in rows)
