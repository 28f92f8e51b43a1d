"""What a translated request may send a model comes from the catalogue's capabilities, not its name."""

from __future__ import annotations

import aiohttp
import pytest

from relaygate.core.errors import InvalidInput
from relaygate.fakeupstream import FakeUpstream
from tests.harness import Running

ASK = {"max_tokens": 64, "messages": [{"role": "user", "content": "hi"}], "temperature": 0.3,
       "thinking": {"type": "enabled", "budget_tokens": 2048}}


async def ask(gw: Running, key: str, model: str) -> None:
    async with aiohttp.ClientSession() as s, s.post(gw.root + "/v1/messages", json={"model": model, **ASK},
                                                    headers={"x-api-key": key}) as resp:
        assert resp.status == 200, await resp.text()


async def test_reasoning_capability_decides_the_token_field(gw: Running, fake: FakeUpstream) -> None:
    await gw.add_channel(fake, "up", {"thinker": "acme-think-1", "plain": "gpt-5-nano-compatible"})
    await gw.gateway.routing.upsert_model("thinker", capabilities={"reasoning": True})
    await gw.gateway.routing.upsert_model("plain", capabilities={"reasoning": False})
    await gw.gateway.state.reload()
    key, _ = await gw.add_key("caps")
    await ask(gw, key, "thinker")  # a name no guess would know: the catalogue says it reasons
    sent = fake.state.requests[-1]["body"]
    assert sent["max_completion_tokens"] == 64 and "max_tokens" not in sent and "temperature" not in sent
    assert sent["reasoning_effort"]
    await ask(gw, key, "plain")  # named like a reasoning model, but the catalogue says it is not
    sent = fake.state.requests[-1]["body"]
    assert sent["max_tokens"] == 64 and "reasoning_effort" not in sent and sent["temperature"] == 0.3


async def test_capabilities_are_kept_listed_and_checked(gw: Running) -> None:
    await gw.gateway.routing.upsert_model("thinker", capabilities={"reasoning": True})
    view = await gw.gateway.routing.upsert_model("thinker", aliases=["t"])  # no capabilities: kept
    assert view["capabilities"] == {"reasoning": True}
    with pytest.raises(InvalidInput):
        await gw.gateway.routing.upsert_model("thinker", capabilities={"vision": True})
