"""A gateway with media channels on a fake media upstream, priced per unit, and a paying owner."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai
import pytest
from sqlalchemy import select

from relaygate.core.money import parse_amount
from relaygate.fakeupstream import FakeUpstream
from relaygate.services.operate.media import MediaPricing
from relaygate.services.operate.statements import balance_check
from relaygate.store import tables as t
from tests.harness import Running, plan, running_gateway, start_fake

MEDIA_SETTINGS: dict[str, Any] = {"media_poll_seconds": 0.05, "media_allow_hosts": "127.0.0.1",
                                  "media_callback_secret": "test-callback-secret"}
PRICES = [("img-1", "image", "1024x1024/standard", "0.04"), ("img-1", "image", "*", "0.02"),
          ("tts-1", "mchars", "*", "15"), ("whisper-1", "second", "*", "0.0001"),
          ("sora-2", "second", "*", "0.10"), ("sora-2", "second", "1792x1024", "0.30"),
          ("kling-v1", "second", "*", "0.05")]


@dataclass
class MediaWorld:
    gw: Running
    fake: FakeUpstream
    secret: str
    key_id: str
    owner_id: str
    clients: list[Any] = field(default_factory=list)

    @property
    def root(self) -> str:
        return self.gw.root

    def headers(self, secret: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {secret or self.secret}"}

    async def ledger(self) -> list[Any]:
        await self.gw.gateway.usage.flush()
        async with self.gw.gateway.engine.connect() as conn:
            return list((await conn.execute(select(t.ledger_entries).order_by(t.ledger_entries.c.id))).all())

    async def task(self, task_id: str) -> Any:
        async with self.gw.gateway.engine.connect() as conn:
            return (await conn.execute(select(t.media_tasks).where(t.media_tasks.c.id == task_id))).one()

    async def until(self, task_id: str, *states: str, seconds: float = 30.0) -> Any:
        for _ in range(int(seconds / 0.05)):
            row = await self.task(task_id)
            if row.state in states:
                return row
            await asyncio.sleep(0.05)
        raise AssertionError(f"task {task_id} never reached {states}: {row.state}")

    async def available(self) -> int:
        state = await self.gw.gateway.counters.read(f"owner:{self.owner_id}")
        return (state.cap or 0) - state.used - state.held

    async def balanced(self) -> bool:
        await self.gw.gateway.usage.flush()
        return all(r["ok"] for r in await balance_check(self.gw.gateway.engine))


async def setup_world(gw: Running, fake: FakeUpstream, topup: str = "10") -> MediaWorld:
    gw.fakes.append(fake)
    await gw.add_channel(fake, "openai-media", ["img-1", "tts-1", "whisper-1", "sora-2"])
    await gw.gateway.routing.create_channel(name="kling", protocol="kling", base_url=f"http://127.0.0.1:{fake.port}",
                                            secrets=["access-key|secret-key"], models=["kling-v1"])
    pricing = MediaPricing(gw.gateway.engine, "USD")
    for model, unit, variant, amount in PRICES:
        await pricing.set_price(model, unit, amount, variant)
    await gw.gateway.state.reload()
    assert gw.gateway.media is not None
    await gw.gateway.media.prices.load(gw.gateway.engine)
    secret, key_id = await gw.add_key("studio")
    owner_id = gw.gateway.state.snapshot.keys_by_id[key_id].owner_id
    if topup != "0":
        await gw.gateway.ledger.record("studio", "topup", parse_amount(topup), "test credit", "tests")
        await gw.gateway.balance_sync.apply_credits()
    return MediaWorld(gw, fake, secret, key_id, owner_id)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[MediaWorld]:
    fake = await start_fake()
    async with running_gateway(f"sqlite+aiosqlite:///{tmp_path}/relaygate.db", data_dir=str(tmp_path),
                               unpriced_models="refuse", **MEDIA_SETTINGS) as gw:
        world = await setup_world(gw, fake)
        try:
            yield world
        finally:
            for client in world.clients:
                await client.close()


def api(world: MediaWorld, secret: str | None = None) -> openai.AsyncOpenAI:
    """The official SDK as the world's key (or ``secret``), closed with the world."""
    client = openai.AsyncOpenAI(base_url=world.gw.base_url, api_key=secret or world.secret, max_retries=0)
    world.clients.append(client)
    return client


async def video_plan(world: MediaWorld, model: str, **behaviour: Any) -> None:
    await plan(world.fake, f"video:{model}", {"kind": "video", **behaviour})
