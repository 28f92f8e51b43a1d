"""End to end: plan, switch, observe, trip, automatic rollback, switch again, complete — with a fake One API
that authenticates and bills on its own database. No request is lost and nothing is billed twice."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from relaygate.services.migration.importer import run_import
from relaygate.services.migration.plan import build_plan
from relaygate.services.migration.source import Source
from relaygate.services.rollout.oldsystem import OldSystem
from relaygate.store import tables as t
from tests.harness import plan as fake_plan
from tests.migration.helpers import USD
from tests.rollout.conftest import World, build_world


@pytest.fixture
async def world(tmp_path: Path, backend_url: str) -> AsyncIterator[World]:
    """The whole road on every database relaygate supports (SQLite always; PostgreSQL, MariaDB in CI)."""
    async for w in build_world(tmp_path, database_url=backend_url):
        yield w


NANOS_PER_QUOTA = 2000  # USD: 10^9 nanos per dollar / 500,000 quota units per dollar


async def wait_for(check: Any, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached in time")


async def state_of(world: World, batch: str) -> str:
    return str((await world.api("GET", f"/api/rollout/batches/{batch}"))["state"])


async def traffic(world: World, users: list[str], rounds: int) -> list[dict[str, Any]]:
    out = []
    for i in range(rounds):
        for user in users:
            out.append(await world.call(user, stream=i % 2 == 1))
    return out


async def test_plan_switch_trip_rollback_switch_complete(world: World) -> None:
    gw, old = world.gw, world.old
    old_root = f"http://127.0.0.1:{old.port}"
    await world.api("PUT", "/api/rollout/legacy", {"base_url": old_root, "source": str(world.src),
                                                   "logs_source": str(world.logs), "write_old": True,
                                                   "guard_seconds": 0.1, "by": "ops"})
    await world.api("POST", "/api/rollout/batches", {
        "name": "internal", "owners": ["alice", "bob"], "conditions": ["5xx>+20%"], "window": "60s",
        "min_requests": 4, "auto_rollback": True, "rollback_window": "1d", "by": "ops"}, expect=201)
    await world.api("POST", "/api/rollout/batches", {"name": "production", "rest": True, "by": "ops"}, expect=201)
    initial = {u: await world.old_quota(u) for u in ("alice", "bob", "carol")}

    # 1. legacy period: everybody is served (and billed) by the old entry, streams included
    before = await traffic(world, ["alice", "bob", "carol"], 4)
    assert all(c["status"] == 200 for c in before) and not world.native.state.requests

    # 2. switch: alice and bob go native; the old system's spend since the import is booked; old quota frozen
    moved = await world.api("POST", "/api/rollout/batches/internal/switch", {"reason": "first batch", "by": "ops"})
    assert moved["state"] == "switched" and moved["handover"]["writes"] == {"written": 2}
    assert await world.old_quota("alice") == 0 and await world.old_quota("carol") < initial["carol"]
    native1 = await traffic(world, ["alice", "bob"], 3)
    legacy_carol = await traffic(world, ["carol"], 2)
    assert all(c["status"] == 200 for c in native1 + legacy_carol)
    await wait_for(lambda: _is(world, "internal", "observing"))  # the guard saw enough traffic to judge

    # 3. the native channel fails: the guard trips on 5xx and rolls the batch back by itself
    await fake_plan(world.native, "*", {"kind": "status", "status": 500}, sticky=True)
    failing = await traffic(world, ["alice", "bob"], 2)
    assert all(c["status"] >= 500 for c in failing)
    await wait_for(lambda: _is(world, "internal", "rolled_back"))
    history = await world.api("GET", "/api/rollout/batches/internal/history")
    assert history[-1]["actor"] == "guard" and "5xx>+20% tripped" in history[-1]["reason"]
    assert await world.old_quota("alice") > 0  # what alice had left here was given back to the old system
    back = await traffic(world, ["alice", "bob"], 2)
    assert all(c["status"] == 200 for c in back)  # served (and billed) by the old entry again

    # 4. fixed: switch again, then complete
    async with world.http.post(f"http://127.0.0.1:{world.native.port}/_fake/reset"):
        pass
    await wait_for(lambda: _healthy(world))
    again = await world.api("POST", "/api/rollout/batches/internal/switch", {"reason": "channel fixed"})
    assert again["switches"] == 2 and again["rollbacks"] == 1
    native2 = await traffic(world, ["alice", "bob"], 3)
    assert all(c["status"] == 200 for c in native2)
    done = await world.api("POST", "/api/rollout/batches/internal/complete", {"reason": "a quiet window"})
    assert done["state"] == "completed"
    await _assert_nothing_lost_nothing_twice(world, initial)

    # 5. the report has it all; re-running the importer changes no balance (the invariant it relies on holds)
    report = await world.api("GET", "/api/rollout/report")
    internal = report["batches"][0]
    assert internal["rollbacks"] == 1 and internal["trips"][0]["action"] == "rolled_back"
    moves = [h["to"] for h in internal["history"]]
    assert moves[:5] == ["planned", "switched", "observing", "rolled_back", "switched"]
    assert moves[5:] in (["completed"], ["observing", "completed"])  # the guard may have watched it again
    balances = {u: await world.balance(world.owner(u)) for u in ("alice", "bob", "carol")}
    source = await Source.open(str(world.src), str(world.logs))
    try:
        plan = await build_plan(source, USD, ["openai"])
    finally:
        await source.close()
    await run_import(plan, gw.gateway.engine, gw.gateway.settings, ["openai"], apply=True)
    assert {u: await world.balance(world.owner(u)) for u in ("alice", "bob")} == {
        u: balances[u] for u in ("alice", "bob")}  # switched owners: nothing new to book, nothing twice
    assert await world.balance(world.owner("carol")) == await world.old_quota("carol") * NANOS_PER_QUOTA


async def _is(world: World, batch: str, state: str) -> bool:
    """The batch is in ``state`` and every owner of it has moved there (each with its own hand-over)."""
    view = await world.api("GET", f"/api/rollout/batches/{batch}")
    return bool(view["state"] == state and view["not_moved"] == 0)


async def _healthy(world: World) -> bool:
    return all(world.gw.gateway.health.is_available(c) for c in world.gw.gateway.state.snapshot.channels)


async def _assert_nothing_lost_nothing_twice(world: World, initial: dict[str, int]) -> None:
    gw, old = world.gw, world.old
    await gw.gateway.usage.flush()
    async with gw.gateway.engine.connect() as conn:
        rows = {r.request_id: dict(r._mapping) for r in await conn.execute(select(t.usage_records))}
        settles = {r.request_id: -r.amount for r in await conn.execute(
            select(t.ledger_entries).where(t.ledger_entries.c.kind == "settle"))}
    billed_old = Counter(m for c in old.counters.values() for m in c.markers)
    # every client call was answered and has exactly one usage record, on the route that served it
    assert len(rows) == len(world.calls) and all(c["request_id"] in rows for c in world.calls)
    for call in world.calls:
        rec = rows[call["request_id"]]
        assert call["marker"] in (rec["body"] or "")
        assert rec["status"] == call["status"]
        if rec["route"] == "legacy":  # the old system billed it (once), relaygate did not
            assert billed_old[call["marker"]] == (1 if call["status"] == 200 else 0)
            assert call["request_id"] not in settles and rec["cost"] == 0
        else:  # relaygate billed it (once, when it succeeded), the old system never saw it
            assert billed_old[call["marker"]] == 0
            assert settles.get(call["request_id"], 0) == (rec["cost"] if call["status"] == 200 else 0)
            assert (rec["cost"] > 0) == (call["status"] == 200)
    assert all(n == 1 for n in billed_old.values())
    # the money adds up exactly, per owner
    for user in ("alice", "bob", "carol"):
        owner = world.owner(user)
        key = world.keys[user].removeprefix("sk-")
        spent_old = old.counters[key].quota
        spent_here = sum(settles[c["request_id"]] for c in world.calls
                         if c["user"] == user and c["request_id"] in settles)
        ledger = await world.ledger(owner)
        imports = sum(e.amount for e in ledger if e.kind == "import")
        quota_now = await world.old_quota(user)
        seen = initial[user] if user == "carol" else quota_now  # carol was last read at the import
        assert imports == seen * NANOS_PER_QUOTA  # Σ import entries = the old quota as last seen (importer's invariant)
        async with gw.gateway.engine.connect() as conn:
            writes = sum(r.delta_quota or 0 for r in await conn.execute(select(t.rollout_handovers).where(
                t.rollout_handovers.c.owner_id == owner, t.rollout_handovers.c.kind == "write",
                t.rollout_handovers.c.state == "written")))
        assert quota_now == initial[user] - spent_old + writes  # the old system: its own charges and our writes
        if user == "carol":  # never switched: the old system holds her money; relaygate's copy is untouched
            assert spent_here == 0 and await world.balance(owner) == initial[user] * NANOS_PER_QUOTA
        else:  # completed: relaygate holds everything, every charge of either system taken once
            assert quota_now == 0
            assert await world.balance(owner) == (initial[user] - spent_old) * NANOS_PER_QUOTA - spent_here
    # the old system's own view agrees: its consume logs carry exactly what the fake billed
    old_sys = await OldSystem.open(str(world.src), str(world.logs), gw.gateway.settings)
    try:
        counts = await old_sys.log_counts([2, 3, 4], 0)
    finally:
        await old_sys.close()
    assert counts is not None and counts.requests == sum(c.calls for c in old.counters.values())
