"""A task taken over from New API ends with the old system's pre-charge counted once: refunded here when
it fails or is cancelled, left to New API while a rollout's legacy route says New API still runs."""

from __future__ import annotations

from typing import Any

import aiohttp
import openai
import pytest
from sqlalchemy import select

from relaygate.core.clock import now_ms
from relaygate.core.money import parse_amount
from relaygate.services.gateway.balances import BalanceSync
from relaygate.store import tables as t
from relaygate.store.counters_memory import MemoryCounters
from tests.harness import plan
from tests.media.conftest import MediaWorld

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")
PREPAID = parse_amount("0.20")


async def taken_over(world: MediaWorld, row_id: int, **behaviour: Any) -> str:
    """What `migrate import` writes for a New API task in flight (see services/migration/import_tasks.py)."""
    await plan(world.fake, "video:sora-2", {"kind": "video", **behaviour})
    async with aiohttp.ClientSession() as s:
        async with s.post(f"{world.fake.base_url}/videos", json={"model": "sora-2", "prompt": "p"}) as r:
            upstream = (await r.json())["id"]
    snap = world.gw.gateway.state.snapshot
    channel = next(c for c in snap.channels.values() if c.protocol == "openai")
    now = now_ms()
    task_id = f"task_nat{row_id}"
    async with world.gw.gateway.engine.begin() as conn:
        await conn.execute(t.media_tasks.insert().values(
            id=task_id, request_id=f"imp:na:t{row_id}", owner_id=world.owner_id, key_id=world.key_id,
            masked_key="sk-…", group_name="default", model="sora-2", kind="video", surface="openai",
            protocol="openai", channel_id=channel.id, upstream_task_id=upstream, state="queued",
            upstream_started=False, progress=0, params={"action": "text2video", "secret_index": 0, "imported": {
                "system": "newapi", "system_name": "New API", "table": "tasks", "row": row_id, "quota": "100000",
                "funding": "wallet"}}, callback_state="none", callback_attempts=0, download_state="none", hold=0,
            cost=0, units={"unit": "call", "variant": "*", "count": 1, "per_unit": 0}, created_at=now,
            updated_at=now, expires_at=now + 600_000, next_poll_at=now, poll_failures=0,
            source_id="task_" + str(row_id) * 32, prepaid=PREPAID))
    return task_id


async def entries(world: MediaWorld, request_id: str) -> list[tuple[str, int, str]]:
    return [(e.kind, e.amount, e.reason or "") for e in await world.ledger() if e.request_id == request_id]


async def test_a_cancelled_taken_over_task_is_refunded_by_the_id_its_client_holds(world: MediaWorld) -> None:
    before = await world.available()
    task_id = await taken_over(world, 1, delay=30)
    client = openai.AsyncOpenAI(base_url=world.gw.base_url, api_key=world.secret, max_retries=0)
    world.clients.append(client)
    assert (await client.videos.delete("task_" + "1" * 32)).deleted  # New API's id, as the script kept it
    row = await world.until(task_id, "cancelled")
    assert row.cost == 0 and row.error_message and "hold" not in row.error_message
    [(kind, amount, reason)] = await entries(world, "imp:na:t1")
    assert (kind, amount) == ("refund", PREPAID) and "New API's pre-charge of 100000 quota units, $0.20" in reason
    assert await world.available() == before + PREPAID  # the counters have it too
    assert await world.balanced()


async def test_while_new_api_still_runs_it_refunds_its_own_tasks(world: MediaWorld) -> None:
    async with world.gw.gateway.engine.begin() as conn:  # `rollout legacy set`: the old entry still serves
        await conn.execute(t.rollout_settings.insert().values(id=1, base_url="http://old:3000", unknown_keys="legacy",
                                                              write_old=False, guard_seconds=30.0, updated_at=0))
    before = await world.available()
    failed = await taken_over(world, 2, delay=0.1, outcome="failed")
    ok = await taken_over(world, 3, delay=0.1)
    row = await world.until(failed, "failed")
    [(kind, amount, reason)] = await entries(world, "imp:na:t2")
    assert (kind, amount, row.cost) == ("refund", 0, 0) and "next sync books it" in reason
    done = await world.until(ok, "succeeded")
    assert done.cost == PREPAID and [e[:2] for e in await entries(world, "imp:na:t3")] == [("settle", 0)]
    assert await world.available() == before
    async with world.gw.gateway.engine.connect() as conn:
        assert (await conn.execute(select(t.media_tasks.c.hold).where(t.media_tasks.c.id == ok))).scalar() == 0
    assert await world.balanced()


async def test_a_refund_gives_the_imported_keys_cap_its_money_back(world: MediaWorld) -> None:
    """New API refunds a failed task to the user *and* to the token's remaining quota; the import made that
    remaining quota the key's total cap, so the key may spend the refund again here, also after a restart."""
    gw = world.gw.gateway
    await gw.accounts.update_key(world.key_id, cap_total=parse_amount("0.30"))  # left after the pre-charge
    await gw.state.reload()
    await gw.balance_sync.load_key_caps(gw.state.snapshot)
    client = openai.AsyncOpenAI(base_url=world.gw.base_url, api_key=world.secret, max_retries=0)
    world.clients.append(client)
    with pytest.raises(openai.APIStatusError) as capped:  # 4 s at $0.10: $0.40 does not fit $0.30
        await client.videos.create(model="sora-2", prompt="x", seconds="4")
    assert capped.value.body["code"] == "insufficient_balance"  # type: ignore[index]
    task_id = await taken_over(world, 4, delay=0.1, outcome="failed")
    await world.until(task_id, "failed")
    [(kind, amount, _)] = await entries(world, "imp:na:t4")
    assert (kind, amount) == ("refund", PREPAID)
    video = await client.videos.create(model="sora-2", prompt="x", seconds="4")  # $0.30 + $0.20 refunded
    assert (await world.task(video.id)).hold == parse_amount("0.40")
    fresh = MemoryCounters()  # a restart reads the same from the ledger, and counts the refund once
    sync = BalanceSync(gw.engine, fresh, 1.0)
    await sync.load(gw.state.snapshot)
    await sync.apply_credits()
    assert (await fresh.read(f"key:{world.key_id}:total")).used == -PREPAID
    assert await world.balanced()
