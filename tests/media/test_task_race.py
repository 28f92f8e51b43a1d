"""A task's terminal state reached at once by several hands (the poller, the caller's DELETE, another worker):
it ends exactly once, its hold is released once, and a taken-over task's refund gives the key's cap its money
back once (services/media/task_end.py, a compare-and-set on the in-flight state). Real concurrency on each
database: many coroutines, each on its own connection."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.money import parse_amount
from relaygate.providers.media import TaskStatus
from relaygate.services.gateway.balances import BalanceSync
from relaygate.services.media.task_end import TaskEnd
from relaygate.store import tables as t
from relaygate.store.counters_memory import MemoryCounters
from relaygate.store.db import make_engine
from tests.harness import PG_URL, running_gateway, start_fake
from tests.media.conftest import MEDIA_SETTINGS, MediaWorld, setup_world, video_plan
from tests.media.test_takeover import PREPAID, taken_over

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")
HANDS = 12


@pytest.fixture
async def world(backend_url: str, tmp_path: Path) -> AsyncIterator[MediaWorld]:
    fake = await start_fake()
    settings = {**MEDIA_SETTINGS, "media_poll_seconds": 3600.0}  # the test decides who ends the task
    async with running_gateway(backend_url, data_dir=str(tmp_path), unpriced_models="refuse", **settings) as gw:
        yield await setup_world(gw, fake)


@pytest.fixture
async def second_worker(world: MediaWorld, backend_url: str) -> AsyncIterator[AsyncEngine]:
    """Another worker's own engine (its own pool of connections) on the same database."""
    engine = make_engine(backend_url)
    yield engine
    await engine.dispose()


def racers(world: MediaWorld, other: AsyncEngine) -> list[TaskEnd]:
    """Enders of this worker and of another one (its own engine), each holding the row as it read it."""
    gw = world.gw.gateway
    assert gw.media is not None
    own = gw.media.tasks.ending
    return [own if i % 2 == 0 else TaskEnd(gw.settings, other, own.money) for i in range(HANDS)]


async def test_a_held_task_ended_by_many_hands_at_once_is_released_once(world: MediaWorld,
                                                                       second_worker: AsyncEngine) -> None:
    await video_plan(world, "sora-2", delay=30)
    before = await world.available()
    async with aiohttp.ClientSession(headers=world.headers()) as s:
        async with s.post(f"{world.root}/v1/videos", json={"model": "sora-2", "prompt": "x", "seconds": 4}) as r:
            task_id = (await r.json())["id"]
    assert await world.available() == before - 4 * parse_amount("0.10")
    row = await world.task(task_id)
    enders = racers(world, second_worker)
    ends = [("failed", TaskStatus("failed", error="boom"), "failed upstream; hold released in full"),
            ("expired", None, "no result; hold released in full"),
            ("cancelled", None, "cancelled; hold released in full"),
            ("succeeded", TaskStatus("succeeded", seconds=4), "succeeded")]

    async def delete() -> int:
        async with aiohttp.ClientSession(headers=world.headers()) as s, \
                s.delete(f"{world.root}/v1/videos/{task_id}") as resp:
            return resp.status

    results = await asyncio.gather(*(e.end(row, *ends[i % len(ends)]) for i, e in enumerate(enders)), delete())
    assert sum(1 for r in results[:-1] if r is True) <= 1 and results[-1] in (200, 409)
    done = await world.task(task_id)
    assert done.state in ("failed", "expired", "cancelled", "succeeded")
    kinds = sorted(e.kind for e in await world.ledger() if e.request_id == row.request_id)
    if done.state == "succeeded":
        assert kinds == ["hold", "release", "settle"]
        assert await world.available() == before - done.cost
    else:
        assert kinds == ["hold", "release"]
        assert await world.available() == before
    assert await world.balanced()


async def test_a_taken_over_task_ended_by_many_hands_gives_the_key_cap_back_once(world: MediaWorld,
                                                                                 second_worker: AsyncEngine) -> None:
    gw = world.gw.gateway
    await gw.accounts.update_key(world.key_id, cap_total=parse_amount("0.30"))
    await gw.state.reload()
    await gw.balance_sync.load_key_caps(gw.state.snapshot)
    before = await world.available()
    task_id = await taken_over(world, 7, delay=30)
    row = await world.task(task_id)
    enders = racers(world, second_worker)
    results = await asyncio.gather(*(e.end(row, "failed", TaskStatus("failed", error="boom"), "failed upstream")
                                     for e in enders), return_exceptions=True)
    assert [r for r in results if isinstance(r, BaseException)] == []  # nobody fails for having lost the race
    assert results.count(True) == 1
    refunds = [e for e in await world.ledger() if e.request_id == row.request_id]
    assert [(e.kind, e.amount) for e in refunds] == [("refund", PREPAID)]
    assert (await gw.counters.read(f"key:{world.key_id}:total")).used == -PREPAID  # given back once
    assert await world.available() == before + PREPAID
    await gw.balance_sync.apply_credits()  # the sync loop sees the same entry: still once
    assert (await gw.counters.read(f"key:{world.key_id}:total")).used == -PREPAID
    fresh = MemoryCounters()  # and a restart reads it once from the ledger
    sync = BalanceSync(gw.engine, fresh, 1.0)
    await sync.load(gw.state.snapshot)
    await sync.apply_credits()
    assert (await fresh.read(f"key:{world.key_id}:total")).used == -PREPAID
    async with gw.engine.connect() as conn:
        state = (await conn.execute(select(t.media_tasks.c.state).where(t.media_tasks.c.id == task_id))).scalar()
    assert state == "failed"
    assert await world.balanced()


async def test_an_end_compares_the_state_it_read(world: MediaWorld) -> None:
    """A cancel read the task as queued; meanwhile the poller saw the upstream start it. The cancel's end
    compares the state it read, so it does not release a hold the running upstream job will still cost."""
    gw = world.gw.gateway
    assert gw.media is not None
    await video_plan(world, "sora-2", delay=30)
    async with aiohttp.ClientSession(headers=world.headers()) as s:
        async with s.post(f"{world.root}/v1/videos", json={"model": "sora-2", "prompt": "x", "seconds": 4}) as r:
            task_id = (await r.json())["id"]
    seen = await world.task(task_id)
    assert seen.state == "queued" and not seen.upstream_started
    async with gw.engine.begin() as conn:  # the poller's progress write, between the cancel's read and its end
        await conn.execute(t.media_tasks.update().where(t.media_tasks.c.id == task_id)
                           .values(state="running", upstream_started=True))
    assert await gw.media.tasks.ending.end(seen, "cancelled", None, "cancelled; hold released in full") is False
    now = await world.task(task_id)
    assert now.state == "running" and now.hold == 4 * parse_amount("0.10")
    assert [e.kind for e in await world.ledger() if e.request_id == seen.request_id] == ["hold"]


async def test_a_cancel_that_loses_the_race_says_what_happened(world: MediaWorld) -> None:
    """The upstream started the task between the cancel's read and its end: the caller gets 409 task_running,
    not "deleted", and the hold stays for the job that runs."""
    gw = world.gw.gateway
    assert gw.media is not None
    await video_plan(world, "sora-2", delay=30)
    async with aiohttp.ClientSession(headers=world.headers()) as s:
        async with s.post(f"{world.root}/v1/videos", json={"model": "sora-2", "prompt": "x", "seconds": 4}) as r:
            task_id = (await r.json())["id"]
    ending = gw.media.tasks.ending
    original = ending.end

    async def poller_between(row, state, status, reason, error_code=None):  # type: ignore[no-untyped-def]
        async with gw.engine.begin() as conn:  # the poller's progress write lands first
            await conn.execute(t.media_tasks.update().where(t.media_tasks.c.id == task_id)
                               .values(state="running", upstream_started=True))
        return await original(row, state, status, reason, error_code)

    ending.end = poller_between  # type: ignore[method-assign]
    try:
        async with aiohttp.ClientSession(headers=world.headers()) as s, \
                s.delete(f"{world.root}/v1/videos/{task_id}") as resp:
            doc = await resp.json()
    finally:
        ending.end = original  # type: ignore[method-assign]
    assert resp.status == 409 and doc["error"]["code"] == "task_running", doc
    row = await world.task(task_id)
    assert row.state == "running" and row.hold == 4 * parse_amount("0.10")
    assert [e.kind for e in await world.ledger() if e.request_id == row.request_id] == ["hold"]


REDIS_URL = os.environ.get("RELAYGATE_TEST_REDIS_URL", "")


@pytest.mark.skipif(not (PG_URL and REDIS_URL), reason="needs RELAYGATE_TEST_POSTGRES_URL and RELAYGATE_TEST_REDIS_URL")
async def test_with_shared_counters_two_workers_give_the_key_cap_back_once(tmp_path: Path) -> None:
    """Two workers (two gateways, one PostgreSQL, one Redis) end the same taken-over task at once: one refund,
    the key cap and the balance in Redis given back once."""
    from redis.asyncio import from_url

    from tests.dbreset import reset_database

    await reset_database(PG_URL)
    client = from_url(REDIS_URL)
    await client.flushdb()
    await client.aclose()
    fake = await start_fake()
    settings = {**MEDIA_SETTINGS, "media_poll_seconds": 3600.0, "redis_url": REDIS_URL}
    async with running_gateway(PG_URL, data_dir=str(tmp_path), **settings) as one:
        world = await setup_world(one, fake)
        gw = one.gateway
        await gw.accounts.update_key(world.key_id, cap_total=parse_amount("0.30"))
        await gw.state.reload()
        await gw.balance_sync.load_key_caps(gw.state.snapshot)
        async with running_gateway(PG_URL, data_dir=str(tmp_path), **settings) as two:
            await two.gateway.state.reload()
            before = await world.available()
            task_id = await taken_over(world, 8, delay=30)
            row = await world.task(task_id)
            assert one.gateway.media is not None and two.gateway.media is not None
            enders = [(one if i % 2 == 0 else two).gateway.media.tasks.ending for i in range(HANDS)]  # type: ignore[union-attr]
            results = await asyncio.gather(*(e.end(row, "failed", TaskStatus("failed", error="boom"),
                                                   "failed upstream") for e in enders))
            assert results.count(True) == 1
            await two.gateway.balance_sync.apply_credits()  # the other worker's sync sees the same entry
            await gw.balance_sync.apply_credits()
            assert (await gw.counters.read(f"key:{world.key_id}:total")).used == -PREPAID
            assert (await two.gateway.counters.read(f"key:{world.key_id}:total")).used == -PREPAID
            assert await world.available() == before + PREPAID
            assert [(e.kind, e.amount) for e in await world.ledger() if e.request_id == row.request_id] == \
                [("refund", PREPAID)]
