"""Ledger invariants under any sequence of entries: the stored balance is the sum of its entries."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from relaygate.store import tables as t
from relaygate.store.db import make_engine, upgrade
from relaygate.store.ledger_repo import append_entries, check_balances

KINDS = ["topup", "adjustment", "settle", "hold", "release", "refund", "import", "expiry"]
entry = st.fixed_dictionaries({
    "owner_id": st.sampled_from(["own_a", "own_b"]),
    "kind": st.sampled_from(KINDS),
    "amount": st.integers(min_value=-10**12, max_value=10**12),
    "held": st.integers(min_value=-10**9, max_value=10**9),
    "request_id": st.one_of(st.none(), st.sampled_from([f"req_{i}" for i in range(8)])),
})


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(entry, max_size=12), min_size=1, max_size=5))
def test_balance_equals_sum_of_entries_and_replays_are_idempotent(tmp_path: Path, batches: list[list[dict]]) -> None:
    async def run() -> None:
        engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/inv-{abs(hash(str(batches)))}.db")
        try:
            await upgrade(engine)
            for batch in batches:
                rows = [{**e, "key_id": None, "model": None, "reason": None, "actor": "t", "ref": None,
                         "created_at": 1} for e in batch]
                for _ in range(2):  # every batch is written twice: the replay must change nothing
                    async with engine.begin() as conn:
                        await append_entries(conn, rows)
            async with engine.connect() as conn:
                checks = await check_balances(conn)
                count = (await conn.execute(select(func.count()).select_from(t.ledger_entries))).scalar()
            assert all(c["ok"] for c in checks)
            unique = {(e["kind"], e["request_id"]) for b in batches for e in b if e["request_id"]}
            anonymous = sum(1 for b in batches for e in b if not e["request_id"]) * 2
            assert count == len(unique) + anonymous
        finally:
            await engine.dispose()

    asyncio.run(run())
