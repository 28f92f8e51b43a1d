"""New API's tasks in flight at `migrate import` are taken over: the gateway polls them through a fake
upstream and settles or refunds each exactly once, on SQLite, MariaDB and PostgreSQL sources.

New API took each task's price from the user's quota at submit; the import carries the quota after it.
So: a success costs nothing more, a failure or an expiry refunds the pre-charge, a subscription-funded
task refunds nothing here, and when New API kept running and finished a task too, a re-import counts
its money once (docs/billing.md, "Taken-over tasks").
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import openai
import orjson
import pytest
from sqlalchemy import BigInteger, Column, MetaData, String, Table, Text, select, update
from sqlalchemy.ext.asyncio import create_async_engine

from relaygate.providers.kling import jwt_token
from relaygate.services.migration.importer import run_import
from relaygate.services.migration.plan import build_plan
from relaygate.services.migration.source import Source
from relaygate.services.operate.statements import balance_check
from relaygate.store import tables as t
from tests.harness import plan, running_gateway, start_fake
from tests.migration.conftest import Backend
from tests.migration.helpers import USD, source_and_plan

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")
PROTOCOLS = ["openai", "kling", "midjourney"]
ERIN, FRANK, GRACE = 2, 3, 5
PUBLIC = "task_" + "Q" * 32  # New API's public id for task 2 (what erin's script polls with)


def midjourneys(meta: MetaData) -> Table:
    return Table("midjourneys", meta, Column("id", BigInteger, primary_key=True), Column("user_id", BigInteger),
                 Column("action", String(40)), Column("mj_id", String(191)), Column("prompt", Text),
                 Column("status", String(20)), Column("progress", String(30)), Column("submit_time", BigInteger),
                 Column("channel_id", BigInteger), Column("quota", BigInteger), Column("fail_reason", Text),
                 Column("image_url", Text), Column("token_id", BigInteger))


async def upstream_task(fake: Any, surface: str, model: str, **behaviour: Any) -> str:
    """A task New API submitted before the import (the fake upstream runs it from now on)."""
    await plan(fake, "mj:imagine" if surface == "mj" else f"video:{model}", {"kind": "video", **behaviour})
    root = fake.base_url.removesuffix("/v1")
    async with aiohttp.ClientSession() as s:
        if surface == "mj":
            async with s.post(f"{root}/mj/submit/imagine", json={"prompt": "a cat"},
                              headers={"mj-api-secret": "mj-proxy-secret"}) as r:
                return str((await r.json())["result"])
        if surface == "openai":
            async with s.post(f"{root}/v1/videos", json={"model": model, "prompt": "p", "seconds": "4"}) as r:
                return str((await r.json())["id"])
        async with s.post(f"{root}/v1/videos/text2video", json={"model_name": model, "prompt": "p", "duration": "5"},
                          headers={"Authorization": f"Bearer {jwt_token('ak', 'sk')}"}) as r:
            return str((await r.json())["data"]["task_id"])


def task_row(row_id: int, user: int, channel: int, quota: int, status: str, client_id: str, model: str,
             upstream: str | None = None, **private: Any) -> dict[str, Any]:
    now = int(time.time())
    data = {**({"upstream_task_id": upstream} if upstream else {}), **private}
    return {"id": row_id, "created_at": now, "updated_at": now, "task_id": client_id, "platform": "1",
            "user_id": user, "channel_id": channel, "quota": quota, "action": "textGenerate", "status": status,
            "progress": {"SUCCESS": "100%", "FAILURE": "100%", "IN_PROGRESS": "30%"}.get(status, "0%"),
            "submit_time": now - 60, "properties": {"origin_model_name": model}, "private_data": data or None}


def as_stored(row: dict[str, Any], backend: str) -> dict[str, Any]:
    """New API's JSON columns: BLOBs on SQLite, JSON text on MariaDB (a LONGTEXT), JSON on PostgreSQL."""
    def one(v: Any) -> Any:
        if not isinstance(v, dict) or backend == "postgresql":
            return v
        return orjson.dumps(v) if backend == "sqlite" else orjson.dumps(v).decode()
    return {k: one(v) for k, v in row.items()}


async def fill_source(backend: Backend, fake: Any) -> dict[str, str]:
    """Tasks in every state, as New API leaves them in its database; returns the upstream ids."""
    up = {"ok": await upstream_task(fake, "openai", "sora-2", delay=0.3, seconds=4),
          "fail": await upstream_task(fake, "openai", "sora-2", delay=0.3, outcome="failed"),
          "sub": await upstream_task(fake, "openai", "sora-2", delay=0.3, outcome="failed"),
          "kling": await upstream_task(fake, "kling", "kling-v1", delay=0.3),
          "never": await upstream_task(fake, "openai", "sora-2", outcome="never"),
          "mj": await upstream_task(fake, "mj", "", delay=0.3)}
    rows = [
        task_row(2, ERIN, 1, 100_000, "SUBMITTED", PUBLIC, "sora-2", up["ok"], token_id=1, billing_source="wallet"),
        task_row(3, FRANK, 1, 75_000, "IN_PROGRESS", "task_" + "F" * 32, "sora-2", up["fail"], token_id=5),
        # an older New API row: task_id is the upstream's id, Kling's action names the path polled
        {**task_row(4, GRACE, 5, 30_000, "QUEUED", up["kling"], "kling-v1"), "platform": "50"},
        task_row(5, ERIN, 1, 9_999, "SUCCESS", "task_" + "S" * 32, "sora-2", "video_done"),
        task_row(6, ERIN, 1, 8_888, "FAILURE", "task_" + "X" * 32, "sora-2", "video_gone"),
        task_row(7, ERIN, 1, 40_000, "IN_PROGRESS", "task_" + "U" * 32, "sora-2", up["sub"],
                 billing_source="subscription", subscription_id=3),
        task_row(8, ERIN, 1, 5_000, "NOT_START", "", "sora-2"),
        task_row(9, GRACE, 1, 60_000, "IN_PROGRESS", "task_" + "N" * 32, "sora-2", up["never"], token_id=14),
    ]
    meta = MetaData()
    engine = create_async_engine(backend.src_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: meta.reflect(c, only=["tasks", "channels"]))
            tasks = meta.tables["tasks"]
            mj = midjourneys(meta)
            await conn.run_sync(lambda c: mj.drop(c, checkfirst=True))
            await conn.run_sync(lambda c: mj.create(c))
            # the fixture's Suno task (id 1, erin, 50,000) stays in flight too
            await conn.execute(tasks.insert(), [as_stored(r, conn.dialect.name) for r in rows])
            channels = meta.tables["channels"]  # New API's midjourney-proxy channel (type 2)
            await conn.execute(channels.insert().values(
                id=12, type=2, name="mj-proxy", key="mj-proxy-secret", base_url=fake.base_url.removesuffix("/v1"),
                models="mj_imagine", group="default", status=1, priority=0, created_time=int(time.time())))
            await conn.execute(mj.insert(), [
                {"id": 1, "user_id": GRACE, "action": "IMAGINE", "mj_id": up["mj"], "prompt": "a cat",
                 "status": "IN_PROGRESS", "progress": "40%", "submit_time": int(time.time() * 1000), "channel_id": 12,
                 "quota": 20_000, "token_id": 14},
                {"id": 2, "user_id": GRACE, "action": "IMAGINE", "mj_id": "1700000000000002", "prompt": "", "status":
                 "SUCCESS", "progress": "100%", "submit_time": 0, "channel_id": 98, "quota": 20_000, "token_id": 0}])
    finally:
        await engine.dispose()
    return up


async def source_update(backend: Backend, table: str, row_id: int, **values: Any) -> None:
    engine = create_async_engine(backend.src_url)
    try:
        meta = MetaData()
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: meta.reflect(c, only=[table]))
            tbl = meta.tables[table]
            await conn.execute(update(tbl).where(tbl.c.id == row_id).values(**as_stored(values, conn.dialect.name)))
    finally:
        await engine.dispose()


async def entries(gw: Any, request_id: str) -> list[tuple[str, int]]:
    async with gw.gateway.engine.connect() as conn:
        L = t.ledger_entries
        return [(r.kind, int(r.amount)) for r in await conn.execute(
            select(L).where(L.c.request_id == request_id).order_by(L.c.id))]


async def balance(gw: Any, owner: str) -> int:
    async with gw.gateway.engine.connect() as conn:
        return int((await conn.execute(select(t.balances.c.balance).where(t.balances.c.owner_id == owner))).scalar())


async def until(gw: Any, task_id: str, *states: str, seconds: float = 20.0) -> Any:
    state = None
    for _ in range(int(seconds / 0.05)):
        async with gw.gateway.engine.connect() as conn:
            row = (await conn.execute(select(t.media_tasks).where(t.media_tasks.c.id == task_id))).one()
        state = row.state
        if state in states:
            return row
        await asyncio.sleep(0.05)
    raise AssertionError(f"{task_id} stayed {state} ({row.error_code}: {row.error_message}), never {states}")


async def test_tasks_in_flight_are_taken_over_and_end_once(backend: Backend, tmp_path: Path) -> None:
    fake = await start_fake()
    try:
        async with running_gateway(backend.dst_url, data_dir=str(tmp_path), unpriced_models="refuse",
                                   media_poll_seconds=0.05, media_task_ttl_seconds=6) as gw:
            root = fake.base_url.removesuffix("/v1")
            facts, _ = await source_and_plan(backend, "newapi", root, protocols=PROTOCOLS)
            up = await fill_source(backend, fake)
            src = await Source.open(backend.src_dsn, backend.logs_dsn)
            try:  # planned after the Midjourney channel joined the source
                mplan = await build_plan(src, USD, PROTOCOLS)
            finally:
                await src.close()
            for ch in mplan["channels"]:
                if ch["id"] == 5:  # New API's Kling channel, pointed at the fake upstream
                    ch["base_url"] = root
            dry = await run_import(mplan, gw.gateway.engine, gw.gateway.settings, PROTOCOLS, apply=False)
            assert dry["changes"]["tasks in flight"]["create"] == 7  # 1 Suno, 2, 3, 4, 7, 9 and a Midjourney
            async with gw.gateway.engine.connect() as conn:
                assert (await conn.execute(select(t.media_tasks))).first() is None  # a dry run writes nothing
            report = await run_import(mplan, gw.gateway.engine, gw.gateway.settings, PROTOCOLS, apply=True)
            await gw.gateway.state.reload()
            await gw.gateway.balance_sync.apply_credits()
            kinds = report["changes"]["tasks in flight"]
            assert (kinds["create"], kinds["skip"]) == (7, 1)  # row 8 has no upstream id: New API fails it, no refund
            assert any("Async tasks: 7 task(s) in flight" in d for d in report["differences"])
            n = USD.nanos

            # erin's script keeps polling with New API's id, through the official SDK, and downloads through us
            erin = openai.AsyncOpenAI(base_url=gw.base_url, api_key="sk-" + facts.tokens["na-laptop"].key,
                                      max_retries=0)
            ok = await until(gw, "task_nat2", "succeeded")
            video = await erin.videos.retrieve(PUBLIC)
            assert video.id == "task_nat2" and video.status == "completed"
            assert (await erin.videos.download_content(PUBLIC)).content.startswith(b"RGDEMO-MP4:" + up["ok"].encode())
            assert ok.cost == ok.prepaid == n(100_000) and ok.key_id and ok.upstream_task_id == up["ok"]
            assert await entries(gw, "imp:na:t2") == [("settle", 0)]  # the pre-charge stands: nothing more
            with pytest.raises(openai.NotFoundError):  # another owner's old id is not found
                await erin.videos.retrieve("task_" + "N" * 32)
            await erin.close()

            failed = await until(gw, "task_nat3", "failed")
            assert failed.cost == 0 and await entries(gw, "imp:na:t3") == [("refund", n(75_000))]
            kling = await until(gw, "task_nat4", "succeeded")
            assert kling.surface == "kling" and await entries(gw, "imp:na:t4") == [("settle", 0)]
            async with aiohttp.ClientSession() as s:  # New API's Kling route, polled with the upstream's old id
                async with s.get(f"{gw.root}/kling/v1/videos/text2video/{up['kling']}",
                                 headers={"Authorization": "Bearer sk-" + facts.tokens["na-admin"].key}) as r:
                    body = await r.json()
            assert r.status == 200 and body["data"]["task_status"] == "succeed"
            assert up["kling"] not in orjson.dumps(body["data"]["task_result"]).decode()
            sub = await until(gw, "task_nat7", "failed")
            assert sub.prepaid == 0 and await entries(gw, "imp:na:t7") == []  # the subscription is refunded there
            never = await until(gw, "task_nat9", "running")  # still in flight upstream
            # New API kept running: it refunded task 3 itself and finished task 9; a re-import counts each once
            await source_update(backend, "tasks", 3, status="FAILURE", progress="100%")
            await source_update(backend, "users", FRANK, quota=-1_000_000 + 75_000)
            await source_update(backend, "tasks", 9, status="SUCCESS", progress="100%",
                                private_data={"upstream_task_id": up["never"],
                                              "result_url": f"{root}/_fake/media/{up['ok']}.mp4"})
            again = await run_import(mplan, gw.gateway.engine, gw.gateway.settings, PROTOCOLS, apply=True)
            assert again["changes"]["tasks in flight"]["update"] == 2, again["changes"]["tasks in flight"]["lines"]
            await gw.gateway.balance_sync.apply_credits()
            assert await entries(gw, "imp:na:t3") == [("refund", n(75_000)), ("adjustment", -n(75_000))]
            ended = await until(gw, "task_nat9", "succeeded")
            assert ended.cost == never.prepaid == n(60_000) and ended.error_code is None
            assert await entries(gw, "imp:na:t9") == [("settle", 0)]

            suno = await until(gw, "task_nat1", "expired", seconds=15)  # no relaygate protocol polls Suno
            assert await entries(gw, "imp:na:t1") == [("refund", n(50_000))]
            mj = await until(gw, "task_nam1", "succeeded")  # polled through the imported midjourney channel
            assert mj.source_id == up["mj"] and mj.cost == n(20_000)
            assert await entries(gw, "imp:na:m1") == [("settle", 0)]
            async with aiohttp.ClientSession(headers={"mj-api-secret": "sk-" + facts.tokens["na-admin"].key}) as s:
                async with s.get(f"{gw.root}/mj/task/{up['mj']}/fetch") as r:  # the script's old mj_id
                    task = await r.json()
            assert task["status"] == "SUCCESS" and task["id"] == up["mj"] and "/mj/image/task_nam1?" in task["imageUrl"]
            assert suno.poll_failures == 0 and fake.media.polls > 0

            assert await balance(gw, "own_na_2") == n(2_500_000) + n(50_000)  # Suno refunded; 2 and 7 cost 0 more
            assert await balance(gw, "own_na_3") == n(-1_000_000 + 75_000)  # one refund, whoever made it
            assert await balance(gw, "own_na_5") == n(3_000_003)  # Kling, Midjourney and task 9 succeeded: no refund
            for owner in ("own_na_2", "own_na_3", "own_na_5"):
                state = await gw.gateway.counters.read(f"owner:{owner}")
                assert (state.cap or 0) - state.used - state.held == await balance(gw, owner), owner
            assert all(r["ok"] for r in await balance_check(gw.gateway.engine))
            third = await run_import(mplan, gw.gateway.engine, gw.gateway.settings, PROTOCOLS, apply=True)
            assert third["changes"]["tasks in flight"]["update"] == 0  # nothing left to count
    finally:
        await fake.stop()
