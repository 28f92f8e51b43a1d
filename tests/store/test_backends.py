"""The same code on SQLite, PostgreSQL and MariaDB: migrations, the relay, usage batches, health rows."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import openai
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select

from relaygate.fakeupstream import FakeUpstream
from relaygate.store import tables as t
from relaygate.store.db import current_revision, make_engine, upgrade
from relaygate.store.repo import insert_usage, save_health
from tests.dbreset import reset_database
from tests.harness import running_gateway


def _diff(conn: Any) -> list[Any]:
    ctx = MigrationContext.configure(conn, opts={"compare_type": False})
    return [d for d in compare_metadata(ctx, t.metadata) if d[0] != "remove_table" or d[1].name != "alembic_version"]


async def test_migrations_create_exactly_the_tables(backend_url: str) -> None:
    await reset_database(backend_url)  # from an empty database (the fixture keeps the schema between tests)
    engine = make_engine(backend_url)
    try:
        await upgrade(engine)
        await upgrade(engine)  # idempotent
        from alembic.script import ScriptDirectory

        from relaygate.store.db import MIGRATIONS

        assert await current_revision(engine) == ScriptDirectory(str(MIGRATIONS)).get_current_head()
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
    finally:
        await engine.dispose()


async def test_usage_batch_is_idempotent_and_health_upserts(backend_url: str) -> None:
    engine = make_engine(backend_url)
    try:
        await upgrade(engine)
        row = {"request_id": "req_x1", "ts": 1, "status": 200, "attempts": 1, "prompt_tokens": 1,
               "completion_tokens": 2, "total_tokens": 3, "cached_tokens": 0, "stream": False,
               "latency_ms": 5, "estimated": False, "cost": 0, "detail": {"attempts": [{"channel_id": 1}]}}
        async with engine.begin() as conn:
            await insert_usage(conn, [row, {**row, "request_id": "req_x2"}])
        async with engine.begin() as conn:  # a retried batch writes nothing twice
            await insert_usage(conn, [row, {**row, "request_id": "req_x3"}])
        async with engine.begin() as conn:
            await save_health(conn, [{"channel_id": 7, "state": "cooling", "reason": "x",
                                      "consecutive_failures": 3, "cooldown_until": 5, "updated_at": 1}])
            await save_health(conn, [{"channel_id": 7, "state": "healthy", "reason": None,
                                      "consecutive_failures": 0, "cooldown_until": None, "updated_at": 2}])
        async with engine.connect() as conn:
            ids = sorted(r[0] for r in await conn.execute(select(t.usage_records.c.request_id)))
            health = (await conn.execute(select(t.channel_health))).all()
            detail = (await conn.execute(select(t.usage_records.c.detail))).first()
        assert ids == ["req_x1", "req_x2", "req_x3"]
        assert [(h.channel_id, h.state) for h in health] == [(7, "healthy")]
        assert detail is not None and detail[0] == {"attempts": [{"channel_id": 1}]}
    finally:
        await engine.dispose()


async def test_gateway_end_to_end_on_each_backend(backend_url: str, fake: FakeUpstream, tmp_path: Any) -> None:
    async with running_gateway(backend_url, data_dir=str(tmp_path)) as gw:
        await gw.add_channel(fake, "up", {"m": "m"})
        secret, key_id = await gw.add_key("zoe")
        client = openai.AsyncOpenAI(base_url=gw.base_url, api_key=secret, max_retries=0)
        results = await asyncio.gather(*[client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": f"n{i}"}]) for i in range(20)])
        assert len(results) == 20
        stream = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "s"}],
                                                      stream=True)
        assert [c async for c in stream]
        rows = await gw.usage_rows()
        assert len(rows) == 21 and {r["key_id"] for r in rows} == {key_id}
        # a change made through another connection reaches the snapshot through the poll
        await gw.gateway.accounts.update_key(key_id, enabled=False)
        for _ in range(50):
            if not gw.gateway.state.snapshot.keys_by_id[key_id].enabled:
                break
            await asyncio.sleep(0.05)
        assert not gw.gateway.state.snapshot.keys_by_id[key_id].enabled


async def test_writer_retries_a_batch_that_was_partly_stored(backend_url: str, tmp_path: Any) -> None:
    """A commit whose acknowledgement was lost is retried without duplicating rows or charges."""
    from relaygate.services.gateway.usage import UsageWriter

    engine = make_engine(backend_url)
    try:
        await upgrade(engine)
        base = {"ts": 1, "status": 200, "attempts": 1, "prompt_tokens": 1, "completion_tokens": 1,
                "total_tokens": 2, "cached_tokens": 0, "stream": False, "latency_ms": 1, "estimated": False,
                "cost": 5, "owner_id": "own_z"}
        entry = {"owner_id": "own_z", "key_id": None, "kind": "settle", "amount": -5, "held": 0, "model": None,
                 "reason": None, "actor": "gateway", "ref": None, "created_at": 1}
        async with engine.begin() as conn:  # the first attempt did commit
            await insert_usage(conn, [{**base, "request_id": "req_a"}])
            from relaygate.store.ledger_repo import append_entries, check_balances
            await append_entries(conn, [{**entry, "request_id": "req_a"}])
        writer = UsageWriter(engine, flush_seconds=1, batch_size=10, buffer_limit=100,
                             spill_path=tmp_path / "spill.jsonl")
        for rid in ("req_a", "req_b"):
            writer.add({**base, "request_id": rid})
            writer._ledger.append({**entry, "request_id": rid})
        await writer.flush()
        assert writer.pending == 0
        async with engine.connect() as conn:
            ids = sorted(r[0] for r in await conn.execute(select(t.usage_records.c.request_id)))
            checks = await check_balances(conn)
        assert ids == ["req_a", "req_b"]
        assert checks == [{"owner_id": "own_z", "entries_balance": -10, "stored_balance": -10, "entries_held": 0,
                           "stored_held": 0, "ok": True}]
    finally:
        await engine.dispose()


async def test_writer_under_steady_load_writes_ledger_rows_as_it_goes(tmp_path: Any) -> None:
    """Records arriving while a flush runs keep it going; the ledger rows of those requests go with them."""
    from relaygate.services.gateway.usage import UsageWriter
    from relaygate.store.ledger_repo import check_balances

    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/writer.db")
    try:
        await upgrade(engine)
        pending: list[dict[str, Any]] = []

        def take(_hold_ms: int) -> list[dict[str, Any]]:
            out = pending[:]
            pending.clear()
            return out

        writer = UsageWriter(engine, flush_seconds=1, batch_size=20, buffer_limit=10_000,
                             spill_path=tmp_path / "spill.jsonl", ledger_source=take)
        base = {"ts": 1, "status": 200, "attempts": 1, "prompt_tokens": 1, "completion_tokens": 1,
                "total_tokens": 2, "cached_tokens": 0, "stream": False, "latency_ms": 1, "estimated": False,
                "cost": 5, "owner_id": "own_y"}

        async def requests() -> None:
            for i in range(300):
                writer.add({**base, "request_id": f"req_{i}"})
                pending.append({"owner_id": "own_y", "key_id": None, "kind": "settle", "amount": -5, "held": 0,
                                "model": None, "reason": None, "actor": "gateway", "ref": None, "created_at": 1,
                                "request_id": f"req_{i}"})
                await asyncio.sleep(0)

        producer = asyncio.create_task(requests())
        await asyncio.sleep(0)
        await writer.flush()  # one flush, running while the requests keep coming
        await producer
        assert writer.written == 300 and pending == []  # nothing left waiting in memory
        async with engine.connect() as conn:
            settles = (await conn.execute(select(t.ledger_entries.c.request_id))).all()
            checks = await check_balances(conn)
        assert len(settles) == 300
        assert checks[0]["entries_balance"] == -1500 and checks[0]["ok"]
    finally:
        await engine.dispose()

async def test_bulk_insert_keeps_every_value_exactly(backend_url: str) -> None:
    """The writer's batch insert (on SQLite: statements of 512, 64, 16 and 8 rows) stores what one-by-one
    inserts would."""
    from relaygate.store.repo import bulk_insert

    engine = make_engine(backend_url)
    try:
        await upgrade(engine)
        rows = [{"request_id": f"bulk-{i}", "ts": 1_700_000_000_000 + i, "key_id": "key_x", "masked_key": None,
                 "owner_id": "own_1", "group_name": "default", "environment": "production", "client": "curl",
                 "client_version": "8.5", "entry_path": "/v1/chat/completions", "host": "gw.example",
                 "requested_model": "模型-ü \"quoted\" \\ back\nslash", "upstream_model": None, "channel_id": i % 3,
                 "attempts": 1, "status": 200 if i % 2 else 429, "error_code": None if i % 2 else "rate_limited",
                 "prompt_tokens": i, "completion_tokens": 100_000 + i, "total_tokens": 100_000 + 2 * i,
                 "cached_tokens": 0,
                 "stream": bool(i % 2), "latency_ms": 3, "ttft_ms": None, "caller_ip": "10.0.0.1",
                 "estimated": i == 3, "cost": 2**52 + i, "detail": {"attempts": [{"channel_id": 1, "error": "é"}]}
                 if i % 3 == 0 else None, "body": None, "route": "native"} for i in range(600)]
        u = t.usage_records
        async with engine.begin() as conn:
            before = (await conn.execute(select(func.count()).select_from(u))).scalar_one()
            await bulk_insert(conn, "usage_records", rows)
            await bulk_insert(conn, "usage_records", [{**rows[0], "request_id": "bulk-single"}])
            assert (await conn.execute(select(func.count()).select_from(u))).scalar_one() == before + 601
        async with engine.connect() as conn:
            query = select(*(u.c[c] for c in rows[0])).where(u.c.request_id.like("bulk-%"))
            stored = [dict(r._mapping) for r in await conn.execute(query.order_by(u.c.ts, u.c.request_id))]
        assert [s["request_id"] for s in stored] == ["bulk-0", "bulk-single", *(f"bulk-{i}" for i in range(1, 600))]
        for got, want in zip([stored[0], *stored[2:]], rows, strict=True):
            assert {k: (bool(v) if k in ("stream", "estimated") else v) for k, v in got.items()} == want
    finally:
        await engine.dispose()


async def test_a_full_batch_wakes_the_writer_and_the_rest_waits_for_the_timer(tmp_path: Any) -> None:
    """Woken by a full batch, the writer commits whole batches; what is left goes at the next tick."""
    from relaygate.services.gateway.usage import UsageWriter

    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path}/batches.db")
    try:
        await upgrade(engine)
        writer = UsageWriter(engine, flush_seconds=0.5, batch_size=10, buffer_limit=10_000,
                             spill_path=tmp_path / "spill.jsonl")
        base = {"ts": 1, "status": 200, "attempts": 1, "prompt_tokens": 1, "completion_tokens": 1,
                "total_tokens": 2, "cached_tokens": 0, "stream": False, "latency_ms": 1, "estimated": False,
                "cost": 0}
        task = asyncio.create_task(writer.run())
        for i in range(25):
            writer.add({**base, "request_id": f"req_{i}"})
        for _ in range(100):  # the wake-up: two whole batches
            await asyncio.sleep(0.01)
            if writer.written == 20:
                break
        assert (writer.written, writer.pending) == (20, 5)
        for _ in range(200):  # the timer: the rest
            await asyncio.sleep(0.01)
            if writer.pending == 0:
                break
        assert writer.written == 25
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        async with engine.connect() as conn:
            assert (await conn.execute(select(func.count()).select_from(t.usage_records))).scalar_one() == 25
    finally:
        await engine.dispose()
