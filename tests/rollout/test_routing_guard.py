"""Who goes where (unknown keys, keys made in relaygate, another process's change, no database read per
request), retiring the old entry, and the guard raising an alert without rolling back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import openai
import pytest
from aiohttp import web
from sqlalchemy import select

from relaygate.core.errors import InvalidInput
from relaygate.services.rollout.service import Rollout
from relaygate.store import tables as t
from relaygate.store.db import make_engine
from tests.harness import plan as fake_plan
from tests.rollout.conftest import World, build_world


async def register(world: World, **kw: Any) -> Rollout:
    rollout = world.gw.gateway.rollout
    assert rollout is not None
    await rollout.planner.set_legacy("test", f"http://127.0.0.1:{world.old.port}", source=str(world.src), **kw)
    await rollout.routing.reload()
    return rollout


async def test_unknown_keys_and_keys_made_here(world: World) -> None:
    rollout = await register(world)
    stranger = openai.AsyncOpenAI(base_url=world.gw.base_url, api_key="sk-" + "Z" * 48, max_retries=0)
    with pytest.raises(openai.AuthenticationError) as old_said:
        await stranger.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert "无效的令牌" in str(old_said.value)  # the old entry answered: a key made there after the import
    await rollout.planner.set_legacy("test", unknown_keys="reject")
    await rollout.routing.reload()
    with pytest.raises(openai.AuthenticationError) as we_said:
        await stranger.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert "not known to this gateway" in str(we_said.value)
    secret, _ = await world.gw.add_key("alice")  # a key made in relaygate never goes to the old entry
    fresh = openai.AsyncOpenAI(base_url=world.gw.base_url, api_key=secret, max_retries=0)
    await fresh.chat.completions.create(model="m", messages=[{"role": "user", "content": "new key"}])
    assert len(world.native.state.requests) == 1
    assert (await world.call("alice"))["status"] == 200 and len(world.native.state.requests) == 1  # old key: old
    rows = await world.gw.usage_rows()
    assert sorted((r["route"], r["status"]) for r in rows) == [("legacy", 200), ("legacy", 401), ("native", 200),
                                                               ("native", 401)]


async def test_routing_reads_no_database_per_request(world: World) -> None:
    rollout = await register(world)
    await rollout.planner.plan("pilot", "test", owners=["alice"])
    await rollout.mover.switch("pilot", "test", "pilot")

    class NoDatabase:
        def connect(self) -> None:
            raise AssertionError("a database read on the request path")

    rollout.routing.engine = NoDatabase()  # type: ignore[assignment]
    keys = world.gw.gateway.state.snapshot.keys_by_id.values()
    targets = {k.owner_id: rollout.routing.legacy_target(k) for k in keys for _ in range(1000)}
    assert targets[world.owner("alice")] is None
    assert {getattr(targets[world.owner(u)], "batch", None) for u in ("bob", "carol")} == {"unassigned"}


async def test_a_change_made_by_another_process_reaches_the_gateway(world: World) -> None:
    rollout = await register(world)
    other = Rollout(make_engine(world.gw.gateway.settings.database_url), world.gw.gateway.settings)
    try:  # the CLI in another process: its own engine, nothing shared with the gateway but the database
        await other.planner.plan("pilot", "cli", owners=["bob"])
        await other.mover.switch("pilot", "cli", "from a shell")
    finally:
        await other.engine.dispose()
    for _ in range(100):
        if world.owner("bob") in rollout.routing.table.native:
            break
        await asyncio.sleep(0.05)
    assert (await world.call("bob"))["status"] == 200 and len(world.native.state.requests) == 1


async def test_retiring_the_old_entry(world: World) -> None:
    rollout = await register(world)
    await rollout.planner.plan("everyone", "test", rest=True)
    with pytest.raises(InvalidInput) as refused:
        await rollout.planner.retire_legacy("test")
    assert "5 owner(s) are still served by the old entry" in refused.value.en
    await rollout.mover.switch("everyone", "test", "all at once, in a test")
    await rollout.mover.complete("everyone", "test", "done")
    view = await rollout.planner.retire_legacy("test")
    await rollout.routing.reload()
    assert view["active"] is False and rollout.routing.table.default is None
    assert (await world.call("carol"))["status"] == 200 and len(world.native.state.requests) == 1


@pytest.fixture
async def hooked(tmp_path: Path) -> AsyncIterator[tuple[World, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async for w in build_world(tmp_path, alert_webhook_url=f"http://127.0.0.1:{port}/hook"):
            yield w, received
    finally:
        await runner.cleanup()


async def test_the_guard_alerts_once_and_leaves_the_batch_when_told_to(
        hooked: tuple[World, list[dict[str, Any]]]) -> None:
    world, received = hooked
    await register(world)
    await world.api("POST", "/api/rollout/batches", {"name": "pilot", "owners": ["alice"], "min_requests": 3,
                                                     "conditions": ["5xx>10%"], "auto_rollback": False}, expect=201)
    for _ in range(3):
        await world.call("alice")  # the legacy baseline
    await world.api("POST", "/api/rollout/batches/pilot/switch", {"reason": "pilot"})
    assert (await world.api("POST", "/api/rollout/guard/check"))[0]["note"].startswith("0 of the 3")
    await fake_plan(world.native, "*", {"kind": "status", "status": 503}, sticky=True)
    for _ in range(3):
        assert (await world.call("alice"))["status"] >= 500
    checked = await world.api("POST", "/api/rollout/guard/check")
    assert checked[0]["tripped"][0]["condition"] == "5xx>10%" and checked[0]["action"] == "alerted"
    assert checked[0]["state"] == "observing"  # the state this run left it in (it found it switched)
    assert (await world.api("POST", "/api/rollout/guard/check"))[0]["action"] == "already raised"
    assert (await world.api("GET", "/api/rollout/batches/pilot"))["state"] == "observing"  # no auto rollback
    events = await world.api("GET", "/api/alerts/events")
    assert [e["kind"] for e in events] == ["rollout_guard"] and events[0]["delivered"] is True
    assert len(received) == 1 and received[0]["batch"] == "pilot" and "5xx rate 100.00%" in received[0]["message"]
    assert "触发" not in received[0]["message"]  # stored and sent once, in the operator's language (en here)
    async with world.gw.gateway.engine.connect() as conn:
        trip = (await conn.execute(select(t.rollout_trips))).one()
    assert (trip.action, trip.error_class, trip.baseline) == ("alerted", "5xx", 0.0)
    report = await world.api("GET", "/api/rollout/report")
    assert report["batches"][0]["trips"][0]["action"] == "alerted"
    async with world.http.get(world.gw.root + "/api/rollout/report/charts/error_rates.svg",
                              headers={"Authorization": f"Bearer {world.gw.admin_token}"}) as resp:
        assert resp.status == 200 and resp.headers["Content-Type"].startswith("image/svg+xml")
        assert (await resp.read()).startswith(b"<svg ")
    md = await world.api("GET", "/api/rollout/report?format=md&lang=zh-CN")
    assert "守护触发" in md and "已告警" in md
