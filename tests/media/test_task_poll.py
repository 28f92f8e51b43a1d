"""Tasks in flight across a restart (services/media/task_poll.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp

from relaygate.core.money import parse_amount
from tests.harness import plan, running_gateway, start_fake
from tests.media.conftest import MEDIA_SETTINGS, MediaWorld, setup_world


async def test_tasks_in_flight_resume_after_a_restart_and_are_charged_once(tmp_path: Path) -> None:
    fake = await start_fake()
    url = f"sqlite+aiosqlite:///{tmp_path}/r.db"
    async with running_gateway(url, data_dir=str(tmp_path), **MEDIA_SETTINGS) as gw:
        world = await setup_world(gw, fake)
        await plan(fake, "video:sora-2", {"kind": "video", "delay": 2.0})
        before = await world.available()
        async with aiohttp.ClientSession(headers=world.headers()) as s:
            async with s.post(f"{world.root}/v1/videos", json={"model": "sora-2", "prompt": "x",
                                                               "seconds": 4}) as resp:
                task_id = (await resp.json())["id"]
        gw.fakes.remove(fake)  # keep the upstream running across the restart
    async with running_gateway(url, data_dir=str(tmp_path), **MEDIA_SETTINGS) as gw2:
        gw2.fakes.append(fake)
        world2 = MediaWorld(gw2, fake, world.secret, world.key_id, world.owner_id)
        held = 4 * parse_amount("0.10")
        assert await world2.available() == before - held  # the hold was taken again at start
        row = await world2.until(task_id, "succeeded")
        assert row.cost == held
        await asyncio.sleep(0.3)  # more poll rounds: nothing more happens
        entries = [e.kind for e in await world2.ledger() if e.request_id == row.request_id]
        assert entries == ["hold", "release", "settle"]
        assert await world2.available() == before - held
        assert await world2.balanced()
