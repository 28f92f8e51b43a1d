"""Wide integers on every database: 64-bit limits, and money beyond int64 nanos kept exactly (issue 12 item 7)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from relaygate.store import tables as t
from relaygate.store.db import make_engine, upgrade
from relaygate.store.ledger_repo import append_entries, check_balances, owner_totals
from relaygate.store.repo import bulk_insert

Q = 2000  # nanos per One API quota unit (500,000 per USD)
BIG = {"u53": (2**53 + 1) * Q, "u63": 2**63 * Q, "neg63": -(2**63 - 1) * Q, "zero": 0}


def _entry(owner: str, amount: int, rid: str, kind: str = "import") -> dict[str, Any]:
    return {"owner_id": owner, "key_id": None, "kind": kind, "amount": amount, "held": 0, "request_id": rid,
            "model": None, "reason": "test", "actor": "test", "ref": None, "created_at": 1}


async def test_limits_and_balances_beyond_int64_are_exact(backend_url: str) -> None:
    engine = make_engine(backend_url)
    try:
        await upgrade(engine)
        async with engine.begin() as conn:
            await conn.execute(t.owners.insert().values(id="o1", name="o1", kind="person", created_at=1,
                                                        updated_at=1))
            await conn.execute(t.groups.insert().values(name="g", multiplier_ppm=10**12, rpm=10**12, tpm=10**12,
                                                        concurrency=10**12, created_at=1, updated_at=1))
            await conn.execute(t.api_keys.insert().values(
                id="k1", key_hash="h" * 64, masked="sk-…", name="k", owner_id="o1", group_name="g",
                environment="production", enabled=True, source="native", rpm=10**12, tpm=10**12,
                concurrency=10**12, created_at=1, updated_at=1))
        async with engine.connect() as conn:
            key = (await conn.execute(select(t.api_keys))).one()
            group = (await conn.execute(select(t.groups))).one()
        assert (key.rpm, key.tpm, key.concurrency) == (10**12,) * 3
        assert (group.tpm, group.multiplier_ppm) == (10**12, 10**12)

        async with engine.begin() as conn:  # first entries through the bulk path, then increments
            await bulk_insert(conn, "ledger_entries", [_entry(o, a, f"imp:{o}") for o, a in BIG.items()])
            await bulk_insert(conn, "balances", [{"owner_id": o, "balance": a, "held": 0, "updated_at": 1}
                                                 for o, a in BIG.items()])
        async with engine.begin() as conn:
            await append_entries(conn, [_entry("u63", 2**63 * Q, "imp:u63:2"), _entry("u63", -1, "s1", "settle"),
                                        _entry("neg63", -(2**63) * Q, "imp:neg63:2"), _entry("u53", 1, "imp:u53:2")])
        async with engine.begin() as conn:
            await append_entries(conn, [_entry("solo", 2**70, "imp:solo")])  # a fresh balance row, one insert
        want = {"u53": (2**53 + 1) * Q + 1, "u63": 2**64 * Q - 1, "neg63": -(2**64 - 1) * Q, "zero": 0,
                "solo": 2**70}
        async with engine.connect() as conn:
            stored = {r.owner_id: r.balance for r in await conn.execute(select(t.balances))}
            checks = await check_balances(conn)
            totals = await owner_totals(conn)
            amounts = sorted(r.amount for r in await conn.execute(select(t.ledger_entries)))
        assert stored == want and all(type(v) is int for v in stored.values())
        assert all(c["ok"] for c in checks), checks
        assert totals["u63"] == (2**64 * Q, 1) and totals["neg63"] == (-(2**64 - 1) * Q, 0)
        assert amounts[0] == -(2**63) * Q and amounts[-1] == 2**63 * Q and 2**70 in amounts
        async with engine.begin() as conn:  # and the rollout hand-over rows carry such quotas too
            await conn.execute(t.rollout_handovers.insert().values(
                batch_id=1, owner_id="u63", seq=1, kind="sync", cause="switch", old_user_id=1, old_quota=2**63,
                delta_quota=-(2**63), amount=2**63 * Q, state="done", request_id="r1", created_at=1, updated_at=1))
        async with engine.connect() as conn:
            row = (await conn.execute(select(t.rollout_handovers))).one()
        assert (row.old_quota, row.delta_quota, row.amount) == (2**63, -(2**63), 2**63 * Q)
    finally:
        await engine.dispose()


async def test_upgrade_from_0004_keeps_amounts_and_routes_members(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    try:
        await upgrade(engine, "0004")
        async with engine.begin() as conn:
            await bulk_insert(conn, "ledger_entries", [_entry("a", 2**62, "imp:a")])
            await conn.execute(t.balances.insert().values(owner_id="a", balance=2**62, held=0, updated_at=1))
            for bid, state in ((1, "switched"), (2, "rolled_back"), (3, "completed")):
                await conn.exec_driver_sql(
                    "INSERT INTO rollout_batches (id, name, position, selector, conditions, window_seconds, "
                    "min_requests, baseline_days, auto_rollback, state, switches, rollbacks, created_at, updated_at)"
                    f" VALUES ({bid}, 'b{bid}', {bid}, '{{}}', '[]', 60, 1, 7, 0, '{state}', 1, 0, 1, 1)")
                await conn.exec_driver_sql(f"INSERT INTO rollout_members VALUES ('o{bid}', {bid}, 1)")
        await upgrade(engine)
        async with engine.connect() as conn:
            members = {r.owner_id: (r.route, r.step) for r in await conn.execute(select(t.rollout_members))}
            balance = (await conn.execute(select(t.balances.c.balance))).scalar_one()
            checks = await check_balances(conn)
        assert members == {"o1": ("native", "switch"), "o2": ("legacy", "rollback"), "o3": ("native", "complete")}
        assert balance == 2**62 and all(c["ok"] for c in checks)
        async with engine.begin() as conn:
            await append_entries(conn, [_entry("a", 2**63, "imp:a:2")])
        async with engine.connect() as conn:
            assert (await conn.execute(select(t.balances.c.balance))).scalar_one() == 2**62 + 2**63
    finally:
        await engine.dispose()


async def test_the_counters_see_a_wide_balance_clamped_and_follow_it_exactly(sqlite_url: str) -> None:
    """Admission runs on counters exact below 2**53: a balance beyond is seen as VIEW ('plenty'), and
    credits move that view exactly as the clamped true total moves, the same way in every worker."""
    from types import SimpleNamespace

    from relaygate.core.clock import now_ms
    from relaygate.services.gateway.balances import VIEW, BalanceSync
    from relaygate.store.counters_memory import MemoryCounters

    engine = make_engine(sqlite_url)
    store = MemoryCounters()
    try:
        await upgrade(engine)
        async with engine.begin() as conn:
            await append_entries(conn, [_entry("w", 2**63 * Q, "imp:w"), _entry("n", 5, "imp:n")])
        sync = BalanceSync(engine, store, 1.0)
        await sync.load(SimpleNamespace(owners={}, keys_by_id={}))  # type: ignore[arg-type]
        assert (await store.read("owner:w")).cap == VIEW and (await store.read("owner:n")).cap == 5
        async with engine.begin() as conn:  # the old system spent all but 10^12 nanos, then a top-up of 5
            fresh = [_entry("w", -(2**63 * Q - 10**12), "imp:w:2"), _entry("w", 5, "t1", "topup"),
                     _entry("n", 2**62, "t2", "topup")]
            await append_entries(conn, [{**e, "created_at": now_ms()} for e in fresh])
        await sync.apply_credits()
        await sync.apply_credits()  # once only
        assert (await store.read("owner:w")).cap == 10**12 + 5
        assert (await store.read("owner:n")).cap == VIEW  # grew beyond the view: clamped, not overflowing
    finally:
        await store.close()
        await engine.dispose()
