"""New API's Midjourney routes behind the same task model: a migrated midjourney-proxy script submits an
imagine with its key in ``mj-api-secret``, fetches the task by the id it got and downloads the image through
the gateway; charged per image on success, released on failure or a refused prompt, owners kept apart."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson

from relaygate.core.money import parse_amount
from relaygate.services.operate.media import MediaPricing
from tests.harness import plan
from tests.media.conftest import MediaWorld

PRICE = parse_amount("0.06")


async def mj_world(world: MediaWorld) -> None:
    await world.gw.gateway.routing.create_channel(name="mj-proxy", protocol="midjourney",
                                                  base_url=f"http://127.0.0.1:{world.fake.port}",
                                                  secrets=["mj-proxy-secret"], models=["mj_imagine"])
    await MediaPricing(world.gw.gateway.engine, "USD").set_price("mj_imagine", "image", "0.06")
    await world.gw.gateway.state.reload()
    assert world.gw.gateway.media is not None
    await world.gw.gateway.media.prices.load(world.gw.gateway.engine)


async def fetch(s: aiohttp.ClientSession, world: MediaWorld, task_id: str) -> dict[str, Any]:
    async with s.get(f"{world.root}/mj/task/{task_id}/fetch") as r:
        assert r.status == 200, await r.text()
        task: dict[str, Any] = await r.json()
    return task


async def test_a_midjourney_script_keeps_working(world: MediaWorld) -> None:
    await mj_world(world)
    before = await world.available()
    await plan(world.fake, "mj:imagine", {"kind": "video", "delay": 0.2})
    async with aiohttp.ClientSession(headers={"mj-api-secret": world.secret}) as s:
        async with s.post(f"{world.root}/mj/submit/imagine", json={"prompt": "a cat --ar 16:9"}) as r:
            answer = await r.json()
        assert r.status == 200 and answer["code"] == 1 and answer["result"].startswith("task_"), answer
        task_id = answer["result"]
        assert await world.available() == before - PRICE  # held on submit
        row = await world.until(task_id, "succeeded")
        task = await fetch(s, world, task_id)
        assert task["status"] == "SUCCESS" and task["id"] == task_id and task["progress"] == "100%"
        assert task["imageUrl"].startswith(f"{world.root}/mj/image/{task_id}?exp=")
        assert str(world.fake.port) not in orjson.dumps(task).decode()  # the proxy's address stays hidden
    async with aiohttp.ClientSession() as anyone:  # a signed link: shown in a page, no key needed
        async with anyone.get(task["imageUrl"]) as r:
            assert r.status == 200 and (await r.read()).startswith(b"\x89PNG")
        async with anyone.get(task["imageUrl"][:-4] + "0000") as r:
            assert r.status == 404  # a forged signature finds nothing
        async with anyone.get(f"{world.root}/v1/videos/{task_id}/content") as r:
            assert r.status == 401  # the unsigned route still wants the owner's key
    async with aiohttp.ClientSession(headers={"mj-api-secret": world.secret}) as s:
        # the mj-fast mode prefix New API accepted, and the proxy saw our channel's secret, not the caller's key
        await plan(world.fake, "mj:imagine", {"kind": "video", "delay": 0.1, "outcome": "failed"})
        async with s.post(f"{world.root}/mj-fast/mj/submit/imagine", json={"prompt": "x"}) as r:
            failed_id = (await r.json())["result"]
    sent = [q for q in world.fake.state.requests if q["path"] == "/mj/submit/imagine"]
    assert sent and all(q["headers"]["mj-api-secret"] == "mj-proxy-secret" for q in sent)
    assert row.cost == PRICE and row.kind == "image" and row.surface == "mj"
    failed = await world.until(failed_id, "failed")
    assert failed.cost == 0 and failed.error_message == "scripted failure"
    assert await world.available() == before - PRICE  # the failure was released in full
    kinds = [(e.kind, e.amount) for e in await world.ledger() if e.request_id == failed.request_id]
    assert kinds == [("hold", 0), ("release", 0)]
    assert await world.balanced()


async def test_a_refused_prompt_costs_nothing_and_another_owner_sees_nothing(world: MediaWorld) -> None:
    await mj_world(world)
    before = await world.available()
    await plan(world.fake, "mj:imagine", {"kind": "refuse"})
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {world.secret}"}) as s:
        async with s.post(f"{world.root}/mj/submit/imagine", json={"prompt": "something banned"}) as r:
            body = await r.json()
        assert r.status == 400 and body["error"]["code"] == "upstream_rejected", body
        assert "banned prompt" in body["error"]["message"]
        async with s.post(f"{world.root}/mj/submit/imagine", json={"prompt": ""}) as r:
            assert r.status == 400  # bad input: the caller's 400, nothing held
        await plan(world.fake, "mj:imagine", {"kind": "video", "delay": 0.1})
        async with s.post(f"{world.root}/mj/submit/imagine", json={"prompt": "ok"}) as r:
            task_id = (await r.json())["result"]
    assert await world.available() == before - PRICE
    other, _ = await world.gw.add_key("someone else")
    async with aiohttp.ClientSession(headers={"mj-api-secret": other}) as s:
        async with s.get(f"{world.root}/mj/task/{task_id}/fetch") as r:
            assert r.status == 404 and (await r.json())["error"]["code"] == "task_not_found"
    await world.until(task_id, "succeeded")
    assert await world.balanced()
