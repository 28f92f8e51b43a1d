"""The legacy route: keys not yet switched reach the old entry unchanged and still get usage records."""

from __future__ import annotations

import openai
import pytest

from relaygate.core.domain import KeyRecord
from relaygate.fakeupstream import FakeUpstream
from relaygate.services.gateway.exchange import Exchange, Inbound, LegacyTarget, Outcome, Pipeline
from relaygate.services.rollout.legacy import forward_legacy
from tests.harness import Running, start_fake


class Routing:
    def __init__(self, base_url: str, legacy_ids: set[str], unknown: bool) -> None:
        self.base_url, self.legacy_ids, self.unknown = base_url, legacy_ids, unknown

    def legacy_target(self, key: KeyRecord | None) -> LegacyTarget | None:
        if key is None:
            return LegacyTarget(self.base_url, "unknown keys") if self.unknown else None
        return LegacyTarget(self.base_url, "batch-1") if key.id in self.legacy_ids else None

    async def forward(self, relay: Pipeline, inbound: Inbound, ex: Exchange, target: LegacyTarget) -> Outcome:
        return await forward_legacy(relay, inbound, ex, target)


@pytest.fixture
async def old(gw: Running) -> FakeUpstream:
    fake = await start_fake()
    gw.fakes.append(fake)
    return fake


async def test_unswitched_key_goes_to_the_old_entry_unchanged(gw: Running, fake: FakeUpstream,
                                                              old: FakeUpstream) -> None:
    await gw.add_channel(fake, "new", ["m"])
    legacy_secret, legacy_id = await gw.add_key("old-user")
    native_secret, _ = await gw.add_key("new-user")
    assert gw.gateway.relay is not None
    gw.gateway.relay.legacy = Routing(f"http://127.0.0.1:{old.port}", {legacy_id}, unknown=True)
    client = openai.AsyncOpenAI(base_url=gw.base_url, api_key=legacy_secret, max_retries=0)
    resp = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}],
                                                extra_body={"odd_field": 1})
    assert resp.choices[0].message.content
    sent = old.state.requests[-1]
    assert sent["headers"]["authorization"] == f"Bearer {legacy_secret}"  # same key, for the old system
    assert sent["body"]["odd_field"] == 1 and sent["body"]["model"] == "m" and not fake.state.requests
    stream = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "s"}],
                                                  stream=True)
    assert "".join([c.choices[0].delta.content or "" async for c in stream if c.choices]).endswith("said: s")
    native = openai.AsyncOpenAI(base_url=gw.base_url, api_key=native_secret, max_retries=0)
    await native.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert len(fake.state.requests) == 1
    unknown = openai.AsyncOpenAI(base_url=gw.base_url, api_key="sk-" + "Q" * 48, max_retries=0)
    await unknown.chat.completions.create(model="m", messages=[{"role": "user", "content": "y"}])
    rows = await gw.usage_rows()
    routes = sorted((r["route"], r["stream"]) for r in rows)
    assert routes == [("legacy", False), ("legacy", False), ("legacy", True), ("native", False)]
    assert all(r["cost"] == 0 for r in rows if r["route"] == "legacy")  # the old system bills them
    assert {(r["detail"] or {}).get("legacy_batch") for r in rows if r["route"] == "legacy"} == {
        "batch-1", "unknown keys"}


async def test_old_entry_errors_are_relayed_as_they_are(gw: Running, old: FakeUpstream) -> None:
    secret, key_id = await gw.add_key("old-user")
    assert gw.gateway.relay is not None
    gw.gateway.relay.legacy = Routing(f"http://127.0.0.1:{old.port}", {key_id}, unknown=False)
    old.state.expected_key = "sk-something-else"
    client = openai.AsyncOpenAI(base_url=gw.base_url, api_key=secret, max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    rec = (await gw.usage_rows())[0]
    assert rec["route"] == "legacy" and rec["status"] == 401 and rec["error_code"] == "legacy_http_401"
