"""Balance hand-over without write access to the old database, and when the old database fails."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, text

from relaygate.core.errors import InvalidInput
from relaygate.services.rollout.oldsystem import OldSystem
from relaygate.services.rollout.service import Rollout
from relaygate.store import tables as t
from tests.rollout.conftest import World

Q = 2000  # nanos per quota unit (USD)


async def setup(world: World, write_old: bool) -> Rollout:
    rollout = world.gw.gateway.rollout
    assert rollout is not None
    await rollout.planner.set_legacy("test", f"http://127.0.0.1:{world.old.port}", source=str(world.src),
                                     logs_source=str(world.logs), write_old=write_old)
    await rollout.planner.plan("pilot", "test", owners=["alice"])
    await rollout.routing.reload()
    return rollout


async def settled(world: World, calls: int) -> None:
    import asyncio

    for _ in range(200):
        if sum(c.calls for c in world.old.counters.values()) >= calls:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the old entry did not bill in time")


async def imports(world: World, owner: str) -> int:
    return sum(e.amount for e in await world.ledger(owner) if e.kind == "import")


async def test_without_write_access_the_give_back_waits_for_the_operator(world: World) -> None:
    rollout = await setup(world, write_old=False)
    alice = world.owner("alice")
    q0 = await world.old_quota("alice")
    await world.call("alice")
    await world.call("alice", stream=True)
    await settled(world, 2)  # a stream is billed once the old entry has written its last event
    spent_old = q0 - await world.old_quota("alice")
    assert spent_old > 0 and not world.native.state.requests

    moved = await rollout.mover.switch("pilot", "test", "pilot users")
    step = moved["handover"]["steps"][0]
    assert step["booked"] == -spent_old * Q and step["state"] == "done" and step["old_delta"] is None
    assert await world.old_quota("alice") == q0 - spent_old  # not frozen: the old copy is left alone
    for _ in range(3):
        assert (await world.call("alice"))["status"] == 200
    await world.gw.gateway.usage.flush()
    spent_here = -sum(e.amount for e in await world.ledger(alice) if e.kind == "settle")
    assert spent_here > 0 and spent_here % Q == 0

    # One API logs in whole seconds: charges made in the instruction's own second cannot be told from it
    await asyncio.sleep(1.1)
    back = await rollout.mover.rollback("pilot", "test", "tickets")
    assert back["state"] == "rolled_back" and back["handover"]["writes"] == {"pending": 1}
    pending = back["handover"]["steps"][0]
    assert pending["old_delta"] == -spent_here // Q and "add " in pending["note"]
    assert (await world.call("alice"))["status"] == 200  # served by the old entry again at once
    refused = await rollout.mover.switch("pilot", "test", "again")  # the batch moves; alice cannot, and says why
    assert refused["left"] == [alice] and "handover confirm pilot" in refused["handover"]["failed"][alice]
    assert (await world.call("alice"))["status"] == 200 and len(world.native.state.requests) == 3  # still old

    async with world.old.db.begin() as conn:  # the operator makes the change in the old admin
        await conn.execute(text("UPDATE users SET quota = quota + :d WHERE id = 2"), {"d": pending["old_delta"]})
    confirmed = await rollout.mover.confirm("pilot", None, True, "test")
    assert confirmed["owners"] == [alice]
    assert await imports(world, alice) == (q0 - spent_old) * Q + pending["old_delta"] * Q  # the invariant holds

    spent_old_total = q0 - await world.old_quota("alice") + pending["old_delta"]
    finished = await rollout.mover.switch("pilot", "test", "again")  # a retry finishes what is left
    assert finished["complete"] and finished["switches"] == 2 and not finished["failures"]
    assert await world.balance(alice) == (q0 - spent_old_total) * Q - spent_here


async def test_a_failing_old_database_leaves_the_owner_where_it_was(world: World,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    rollout = await setup(world, write_old=True)
    alice = world.owner("alice")
    await rollout.mover.switch("pilot", "test", "pilot users")
    assert await world.old_quota("alice") == 0
    assert (await world.call("alice"))["status"] == 200

    async def broken(self: OldSystem, uid: int, expected: int, new: int) -> bool:
        raise InvalidInput("database is locked", "数据库被锁定")

    monkeypatch.setattr(OldSystem, "set_quota", broken)
    back = await rollout.mover.rollback("pilot", "test", "errors")
    assert back["state"] == "rolled_back" and back["handover"]["writes"] == {"failed": 1}
    assert back["left"] == [alice] and "database is locked" in back["handover"]["failed"][alice]
    assert await world.old_quota("alice") == 0  # nothing was written, and nothing booked for it
    assert await imports(world, alice) == 0
    native_before = len(world.native.state.requests)
    assert (await world.call("alice"))["status"] == 200  # still served here: never by a frozen old quota
    assert len(world.native.state.requests) == native_before + 1
    listed = await rollout.handovers("pilot", open_only=True)
    assert listed[0]["state"] == "failed" and "FAILED: database is locked" in listed[0]["note"]
    status = {b["name"]: b for b in await rollout.planner.status()}["pilot"]
    assert status["not_moved"] == 1 and "database is locked" in status["failures"][alice]
    events = await world.api("GET", "/api/alerts/events")
    assert [e["kind"] for e in events] == ["rollout_handover"] and alice in events[0]["message"]
    again = await rollout.mover.rollback("pilot", "test", "errors")  # the same failure: not alerted twice
    assert again["left"] == [alice] and len(await world.api("GET", "/api/alerts/events")) == 1

    monkeypatch.undo()
    redone = await rollout.mover.rollback("pilot", "test", "retry")  # finishes what is left
    assert redone["handover"]["writes"] == {"written": 1} and redone["complete"] and not redone["failures"]
    assert redone["rollbacks"] == 1
    assert await rollout.handovers("pilot", open_only=True) == []  # the failed writes were done by the retry
    await world.gw.gateway.usage.flush()
    assert await world.old_quota("alice") * Q == await imports(world, alice)
    assert await world.old_quota("alice") * Q == await world.balance(alice)  # all of it back with the old system
    async with world.gw.gateway.engine.connect() as conn:
        kinds = [r.kind for r in await conn.execute(select(t.ledger_entries).where(
            t.ledger_entries.c.owner_id == alice, t.ledger_entries.c.kind.in_(["import", "adjustment"])))]
    assert kinds.count("adjustment") == 2  # the freeze and the give-back, each paired with an import entry


async def test_callers_still_on_the_old_base_url_are_booked_by_the_guard(world: World) -> None:
    import openai

    rollout = await setup(world, write_old=False)
    alice = world.owner("alice")
    await rollout.mover.switch("pilot", "test", "pilot users")
    before = await world.balance(alice)
    import asyncio

    await asyncio.sleep(1.1)  # the old logs count whole seconds: keep the call out of the switch's second
    direct = openai.AsyncOpenAI(base_url=f"http://127.0.0.1:{world.old.port}/v1", api_key=world.keys["alice"],
                                max_retries=0)  # a script nobody updated: it never passes through relaygate
    await direct.chat.completions.create(model="m", messages=[{"role": "user", "content": "old habits"}])
    charged = sum(c.quota for c in world.old.counters.values())
    async with world.gw.gateway.engine.connect() as conn:
        from relaygate.services.rollout import repo

        settings = await repo.read_settings(conn)
    await rollout.guard.sync_native(settings)
    await rollout.guard.sync_native(settings)  # nothing new: nothing booked twice
    assert await world.balance(alice) == before - charged * Q
    assert await imports(world, alice) == await world.old_quota("alice") * Q
    report = await rollout.report()
    assert report["batches"][0]["residual"]["old_entry_requests_since_switch"] == 1
    direct = sum(day.get("direct", 0) for day in report["residual"]["per_day"].values())
    assert direct == 1  # in the chart's data too, not only in the text


async def test_a_freeze_by_hand_is_pending_until_confirmed(world: World) -> None:
    rollout = await setup(world, write_old=False)
    alice = world.owner("alice")
    q0 = await world.old_quota("alice")
    moved = await rollout.mover.switch("pilot", "test", "pilot users", freeze=True)
    step = moved["handover"]["steps"][0]
    assert (step["state"], step["old_delta"]) == ("pending", -q0) and await world.old_quota("alice") == q0
    synced = await rollout.mover.sync("pilot", "test")
    assert "confirmed" in synced["handover"]["notes"][alice]  # no sync over an unknown old value
    async with world.old.db.begin() as conn:
        await conn.execute(text("UPDATE users SET quota = quota + :d WHERE id = 2"), {"d": -q0})
    await rollout.mover.confirm("pilot", alice, True, "test")
    assert await imports(world, alice) == 0 == await world.old_quota("alice")
    assert await world.balance(alice) == q0 * Q  # the money is here now, once
