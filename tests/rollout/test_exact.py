"""Hand-overs at any balance, one owner at a time (issue 21), on every database relaygate runs on.

Owners at 0, negative, 2^53 + 1 and 2^63 − 1 quota units and a root whose import was capped the way the
old importer did it (2^53 − 1 nanos) switch, serve and roll back together; a failure injected between
the steps of one owner's move leaves that owner where it was (named, alerted) and the rest moved; a retry
finishes it; a wrong confirmation is refused with both values. Every unit is accounted for.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from relaygate.core.errors import InvalidInput
from relaygate.services.migration.importer import run_import
from relaygate.services.migration.plan import build_plan
from relaygate.services.migration.source import Source
from relaygate.services.rollout import handover as handover_mod
from relaygate.services.rollout.service import Rollout, write_report
from relaygate.store import tables as t
from relaygate.store.ledger_repo import check_balances
from tests.migration.helpers import USD
from tests.rollout.conftest import World, build_world

Q = 2000  # nanos per quota unit (USD)
WHALES = {"zero": (10, 1, 0), "owes": (11, 1, -250_001), "u53": (12, 1, 2**53 + 1), "u63": (13, 1, 2**63 - 1),
          "capped": (14, 100, 499_999_876_543_211)}
OLD_CAP = 2**53 - 1  # what the importer used to book for a balance it could not hold


@pytest.fixture
async def world(tmp_path: Path, backend_url: str) -> AsyncIterator[World]:
    async for w in build_world(tmp_path, database_url=backend_url, extra_users=WHALES):
        yield w


async def imports(world: World, owner: str) -> int:
    return sum(e.amount for e in await world.ledger(owner) if e.kind == "import")


async def cap_like_the_old_importer(world: World, owner: str) -> None:
    """What a database imported before balances were exact holds: the import entry and balance capped."""
    async with world.gw.gateway.engine.begin() as conn:
        await conn.execute(t.ledger_entries.update().where(t.ledger_entries.c.owner_id == owner,
                                                           t.ledger_entries.c.kind == "import").values(amount=OLD_CAP))
        await conn.execute(t.balances.update().where(t.balances.c.owner_id == owner).values(balance=OLD_CAP))


async def reimport(world: World) -> None:
    source = await Source.open(str(world.src), str(world.logs))
    try:
        plan = await build_plan(source, USD, ["openai"])
    finally:
        await source.close()
    await run_import(plan, world.gw.gateway.engine, world.gw.gateway.settings, ["openai"], apply=True)


async def setup(world: World, write_old: bool) -> Rollout:
    rollout = world.gw.gateway.rollout
    assert rollout is not None
    await rollout.planner.set_legacy("test", f"http://127.0.0.1:{world.old.port}", source=str(world.src),
                                     logs_source=str(world.logs), write_old=write_old)
    await rollout.planner.plan("whales", "test", owners=[*WHALES, "alice"])
    await rollout.routing.reload()
    return rollout


async def test_any_balance_switches_and_comes_back_exactly(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    rollout = await setup(world, write_old=True)
    owner = world.owner
    q0 = {u: await world.old_quota(u) for u in WHALES}
    assert {u: await world.balance(owner(u)) for u in WHALES} == {u: q * Q for u, q in q0.items()}  # exact import
    await cap_like_the_old_importer(world, owner("capped"))

    # one owner's move fails between its steps: after the old quota is written, before it is booked
    async def fail(point: str, owner_id: str) -> None:
        if point == "written" and owner_id == owner("u63"):
            raise RuntimeError("injected: the process died here")
    monkeypatch.setattr(handover_mod, "checkpoint", fail)
    moved = await rollout.mover.switch("whales", "test", "first")
    assert moved["state"] == "switched" and sorted(moved["left"]) == sorted([owner("capped"), owner("u63")])
    failed = moved["handover"]["failed"]
    assert "migrate import" in failed[owner("capped")] and "$999999753.086422" in failed[owner("capped")]
    assert "interrupted after the old quota was written" in failed[owner("u63")]
    assert await world.old_quota("capped") == q0["capped"]  # refused: nothing frozen, nothing credited
    assert await world.balance(owner("capped")) == OLD_CAP
    assert await world.old_quota("u63") == 0  # written, and its booking interrupted: u63 stays on the old entry
    assert (await world.call("u63"))["status"] == 403 and not world.native.state.requests  # the old entry, frozen
    for u in ("zero", "owes", "u53"):  # the others moved, each with its hand-over
        assert await world.old_quota(u) == min(q0[u], 0) and await imports(world, owner(u)) == min(q0[u], 0) * Q
        assert await world.balance(owner(u)) == q0[u] * Q
    status = {b["name"]: b for b in await rollout.planner.status()}["whales"]
    assert status["not_moved"] == 2 and set(status["failures"]) == {owner("capped"), owner("u63")}
    events = await world.api("GET", "/api/alerts/events")
    assert [e["kind"] for e in events] == ["rollout_handover"] and owner("capped") in events[0]["message"]
    report = await world.api("GET", "/api/rollout/report")
    assert set(report["batches"][0]["failures"]) == {owner("capped"), owner("u63")}

    # the retry reads u63's old quota back (0: the write happened) and finishes it; capped waits for an exact import
    monkeypatch.undo()
    again = await rollout.mover.switch("whales", "test", "retry")
    assert again["left"] == [owner("capped")] and again["switches"] == 1
    assert await world.balance(owner("u63")) == q0["u63"] * Q and await imports(world, owner("u63")) == 0
    await reimport(world)  # exact now: the capped difference is booked as the import it always was
    assert await world.balance(owner("capped")) == q0["capped"] * Q
    done = await rollout.mover.switch("whales", "test", "capped imported exactly")
    assert done["complete"] and not done["failures"] and await world.old_quota("capped") == 0
    assert await world.balance(owner("capped")) == q0["capped"] * Q  # no phantom credit: exactly the old quota

    # served natively and charged, the largest balances too
    for u in ("u53", "u63", "capped", "zero"):
        call = await world.call(u)
        # nothing to spend: refused as One API refused it (403 insufficient quota; 402 for native keys)
        assert call["status"] in ((402, 403) if u == "zero" else (200,)), (u, call)
    await world.gw.gateway.usage.flush()
    spent = {u: -sum(e.amount for e in await world.ledger(owner(u)) if e.kind == "settle") for u in WHALES}
    assert spent["u63"] > 0 and spent["zero"] == 0

    # rollback: everything available is given back to the old system, to the unit
    back = await rollout.mover.rollback("whales", "test", "back")
    assert back["complete"] and back["state"] == "rolled_back"
    for u in WHALES:
        given = await world.old_quota(u)
        assert given == (q0[u] * Q - spent[u]) // Q if q0[u] >= 0 else given == q0[u], u
        assert await imports(world, owner(u)) == given * Q  # the invariant: Σ import = the old quota, as set
        assert await world.balance(owner(u)) == q0[u] * Q - spent[u]  # nothing created, nothing lost
    async with world.gw.gateway.engine.connect() as conn:
        assert all(c["ok"] for c in await check_balances(conn))
    residual = (await world.api("GET", "/api/rollout/report"))["batches"][0]["residual"]
    assert residual["native_until"] and residual["forwarded_by_relaygate_since_switch"] is not None  # not "-"
    assert residual["old_entry_requests_since_switch"] == 0  # nobody called the old entry directly meanwhile
    text_json, _ = await write_report(rollout, "json", None, "en")  # amounts beyond 64 bits: still exact JSON
    moved_total = json.loads(text_json)["batches"][0]["handover"]["moved"]
    assert isinstance(moved_total, int) and moved_total == (await _write_amounts(world)) * -1


async def _write_amounts(world: World) -> int:
    async with world.gw.gateway.engine.connect() as conn:
        return sum(r.amount for r in await conn.execute(select(t.rollout_handovers).where(
            t.rollout_handovers.c.kind == "write")))


async def test_a_wrong_confirmation_is_refused_with_both_values(world: World) -> None:
    rollout = await setup(world, write_old=False)
    owner = world.owner("u53")
    q0 = await world.old_quota("u53")
    moved = await rollout.mover.switch("whales", "test", "by hand", freeze=True)
    step = next(s for s in moved["handover"]["steps"] if s["owner_id"] == owner)
    assert step["state"] == "pending" and step["old_delta"] == -q0
    async with world.old.db.begin() as conn:  # a typo: one digit short
        await conn.execute(text("UPDATE users SET quota = quota - :d WHERE id = 12"), {"d": q0 // 10})
    with pytest.raises(InvalidInput) as refused:
        await rollout.mover.confirm("whales", owner, True, "test")
    why = refused.value.en
    assert f"reads {q0 - q0 // 10}" in why and "makes it 0" in why  # both values named
    assert await imports(world, owner) == q0 * Q  # nothing booked from the typo
    async with world.old.db.begin() as conn:  # fixed by hand: it now reads what the change makes it
        await conn.execute(text("UPDATE users SET quota = 0 WHERE id = 12"))
    fixed = await rollout.mover.confirm("whales", owner, True, "test")
    assert fixed["owners"] == [owner] and not fixed["refused"]
    assert await imports(world, owner) == 0 and await world.balance(owner) == q0 * Q
    listed: list[dict[str, Any]] = await rollout.handovers("whales")
    assert any(r["owner_id"] == owner and r["state"] == "confirmed" for r in listed)


async def test_a_failure_inside_the_owner_transaction_keeps_nothing(world: World,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    rollout = await setup(world, write_old=True)
    alice = world.owner("alice")
    await world.call("alice")  # the old system charges her: the switch has something to book

    async def fail(point: str, owner_id: str) -> None:
        if point == "synced" and owner_id == alice:
            raise RuntimeError("injected between the sync and the move")
    monkeypatch.setattr(handover_mod, "checkpoint", fail)
    before = await imports(world, alice)
    moved = await rollout.mover.switch("whales", "test", "first")
    assert moved["left"] == [alice] and "rolled back, nothing kept" in moved["handover"]["failed"][alice]
    assert await imports(world, alice) == before  # the sync booking went with the failed transaction
    async with world.gw.gateway.engine.connect() as conn:
        rows = (await conn.execute(select(t.rollout_handovers).where(t.rollout_handovers.c.owner_id == alice))).all()
    assert rows == [] and await world.old_quota("alice") > 0
    monkeypatch.undo()
    quota = await world.old_quota("alice")
    done = await rollout.mover.switch("whales", "test", "retry")
    assert done["complete"] and await world.old_quota("alice") == 0
    assert await world.balance(alice) == quota * Q and await imports(world, alice) == 0  # all of it here, once
