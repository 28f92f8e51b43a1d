"""New API's Midjourney routes beyond imagine, as its users' scripts call them, behind the same task model:
``/mj/submit/action`` (a button's ``customId``), ``/change`` (``action`` + ``index``), ``/blend``, ``/describe``,
``/modal`` and ``/mj/task/list-by-condition``, with the mode prefixes. Each submit is held at its model's price
(New API's names: ``mj_upscale``, ``mj_variation``, ``mj_blend``, ``mj_describe``, ``mj_modal`` …), settled on
success and released in full on failure; the task an action works on must be the caller's own, and the proxy
is sent its own task id for it, on the channel that made it. Plain HTTP, as the scripts do."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp

from relaygate.core.money import parse_amount
from relaygate.fakeupstream.media import PNG
from relaygate.services.operate.media import MediaPricing
from tests.harness import plan
from tests.media.conftest import MediaWorld

PRICES = {"mj_imagine": "0.06", "mj_upscale": "0.02", "mj_variation": "0.05", "mj_reroll": "0.06",
          "mj_blend": "0.07", "mj_describe": "0.01", "mj_modal": "0.04"}
IMG = "data:image/png;base64," + base64.b64encode(PNG).decode()


async def mj_world(world: MediaWorld) -> None:
    gw = world.gw.gateway
    await gw.routing.create_channel(name="mj-proxy", protocol="midjourney",
                                    base_url=f"http://127.0.0.1:{world.fake.port}", secrets=["mj-proxy-secret"],
                                    models=[*PRICES, "mj_inpaint"])
    pricing = MediaPricing(gw.engine, "USD")
    for model, amount in PRICES.items():
        await pricing.set_price(model, "image", amount)
    await gw.state.reload()
    assert gw.media is not None
    await gw.media.prices.load(gw.engine)


async def post(s: aiohttp.ClientSession, world: MediaWorld, path: str, body: Any) -> tuple[int, Any]:
    async with s.post(f"{world.root}{path}", json=body) as r:
        return r.status, await r.json()


async def fetch(s: aiohttp.ClientSession, world: MediaWorld, task_id: str) -> dict[str, Any]:
    async with s.get(f"{world.root}/mj/task/{task_id}/fetch") as r:
        assert r.status == 200, await r.text()
        task: dict[str, Any] = await r.json()
    return task


def sent(world: MediaWorld, path: str) -> list[dict[str, Any]]:
    return [q["body"] for q in world.fake.state.requests if q["path"] == path]


async def imagined(s: aiohttp.ClientSession, world: MediaWorld) -> str:
    await plan(world.fake, "mj:imagine", {"kind": "video", "delay": 0.1})
    status, answer = await post(s, world, "/mj/submit/imagine", {"prompt": "a lighthouse"})
    assert status == 200 and answer["code"] == 1, answer
    await world.until(answer["result"], "succeeded")
    return str(answer["result"])


async def test_a_button_a_change_and_a_modal_work_on_the_callers_task(world: MediaWorld) -> None:
    await mj_world(world)
    async with aiohttp.ClientSession(headers={"mj-api-secret": world.secret}) as s:
        parent = await imagined(s, world)
        task = await fetch(s, world, parent)
        assert task["action"] == "IMAGINE" and len(task["buttons"]) == 9
        u1 = next(b["customId"] for b in task["buttons"] if b["label"] == "U1")
        upstream_parent = (await world.task(parent)).upstream_task_id
        before = await world.available()

        # a button: the proxy gets its own id for the task; held at mj_upscale's price, settled on success
        await plan(world.fake, "mj:action", {"kind": "video", "delay": 0.1})
        status, answer = await post(s, world, "/mj-fast/mj/submit/action", {"customId": u1, "taskId": parent})
        assert status == 200 and answer["code"] == 1 and answer["result"].startswith("task_"), answer
        upscale = answer["result"]
        assert await world.available() == before - parse_amount("0.02")
        assert sent(world, "/mj/submit/action")[-1]["taskId"] == upstream_parent
        assert sent(world, "/mj/submit/action")[-1]["customId"] == u1
        row = await world.until(upscale, "succeeded")
        assert (row.model, row.cost, row.kind, row.channel_id) == ("mj_upscale", parse_amount("0.02"), "image",
                                                                   (await world.task(parent)).channel_id)
        shown = await fetch(s, world, upscale)
        assert shown["action"] == "UPSCALE" and shown["status"] == "SUCCESS" and shown["imageUrl"]

        # a change (action + index) through the relax prefix: mj_variation
        await plan(world.fake, "mj:change", {"kind": "video", "delay": 0.1})
        status, answer = await post(s, world, "/mj-relax/mj/submit/change",
                                    {"taskId": parent, "action": "VARIATION", "index": 2})
        assert status == 200 and answer["code"] == 1, answer
        assert sent(world, "/mj/submit/change")[-1] == {"taskId": upstream_parent, "action": "VARIATION",
                                                        "index": 2}
        variation = await world.until(answer["result"], "succeeded")
        assert (variation.model, variation.cost) == ("mj_variation", parse_amount("0.05"))
        assert (await fetch(s, world, variation.id))["action"] == "VARIATION"

        # a modal on the upscaled task: mj_modal; released in full when it fails
        await plan(world.fake, "mj:modal", {"kind": "video", "delay": 0.1, "outcome": "failed"})
        held = await world.available()
        status, answer = await post(s, world, "/mj/submit/modal", {"taskId": upscale, "prompt": "a boat",
                                                                   "maskBase64": IMG})
        assert status == 200 and answer["code"] == 1, answer
        assert await world.available() == held - parse_amount("0.04")
        modal = await world.until(answer["result"], "failed")
        assert modal.model == "mj_modal" and modal.cost == 0 and await world.available() == held
        assert sent(world, "/mj/submit/modal")[-1]["taskId"] == row.upstream_task_id
        kinds = [e.kind for e in await world.ledger() if e.request_id == modal.request_id]
        assert kinds == ["hold", "release"]
    assert await world.balanced()


async def test_blend_and_describe_take_images_and_are_priced_as_new_api_named_them(world: MediaWorld) -> None:
    await mj_world(world)
    before = await world.available()
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {world.secret}"}) as s:
        await plan(world.fake, "mj:blend", {"kind": "video", "delay": 0.1})
        status, answer = await post(s, world, "/mj/submit/blend", {"base64Array": [IMG, IMG],
                                                                   "dimensions": "SQUARE"})
        assert status == 200 and answer["code"] == 1, answer
        blend = await world.until(answer["result"], "succeeded")
        assert (blend.model, blend.cost) == ("mj_blend", parse_amount("0.07"))
        assert [r["size"] for r in blend.refs] == [len(PNG), len(PNG)]  # fingerprints, never the bytes
        assert sent(world, "/mj/submit/blend")[-1] == {"dimensions": "SQUARE"}  # images went, unrecorded here
        assert (await fetch(s, world, blend.id))["action"] == "BLEND"

        await plan(world.fake, "mj:describe", {"kind": "video", "delay": 0.1})
        status, answer = await post(s, world, "/mj-turbo/mj/submit/describe", {"base64": IMG})
        assert status == 200 and answer["code"] == 1, answer
        describe = await world.until(answer["result"], "succeeded")
        assert (describe.model, describe.cost) == ("mj_describe", parse_amount("0.01"))
        shown = await fetch(s, world, describe.id)
        assert shown["action"] == "DESCRIBE" and "a lighthouse at dusk" in shown["prompt"]

        for path, body in (("/mj/submit/blend", {"base64Array": [IMG]}),  # bad input: 400, nothing held
                           ("/mj/submit/blend", {"base64Array": "x"}), ("/mj/submit/describe", {}),
                           ("/mj/submit/action", {"taskId": blend.id}),
                           ("/mj/submit/action", {"customId": "MJ::JOB::nonsense::1::x", "taskId": blend.id}),
                           ("/mj/submit/change", {"taskId": blend.id, "action": "UPSCALE"}),
                           ("/mj/submit/modal", {})):
            status, answer = await post(s, world, path, body)
            assert status == 400 and answer["error"]["code"] == "bad_request", (path, body, answer)
    assert await world.available() == before - parse_amount("0.07") - parse_amount("0.01")
    assert await world.balanced()


async def test_actions_and_lists_see_only_the_callers_own_finished_tasks(world: MediaWorld) -> None:
    await mj_world(world)
    other, _ = await world.gw.add_key("someone else")
    async with aiohttp.ClientSession(headers={"mj-api-secret": world.secret}) as s:
        mine = await imagined(s, world)
        await plan(world.fake, "mj:imagine", {"kind": "video", "delay": 30})
        status, answer = await post(s, world, "/mj/submit/imagine", {"prompt": "slow"})
        running = answer["result"]
        before = await world.available()
        status, answer = await post(s, world, "/mj/submit/change", {"taskId": running, "action": "UPSCALE",
                                                                    "index": 1})
        assert status == 409 and answer["error"]["code"] == "task_not_ready", answer  # not finished yet
        status, answer = await post(s, world, "/mj/submit/change", {"taskId": "task_nope", "action": "UPSCALE",
                                                                    "index": 1})
        assert status == 404 and answer["error"]["code"] == "task_not_found"
        assert await world.available() == before
        status, tasks = await post(s, world, "/mj/task/list-by-condition", {"ids": [mine, running, "task_nope"]})
        assert status == 200 and sorted(t["id"] for t in tasks) == sorted([mine, running])
        assert {t["id"]: t["status"] for t in tasks}[mine] == "SUCCESS"
        status, tasks = await post(s, world, "/mj-fast/mj/task/list-by-condition", {"ids": []})
        assert status == 200 and tasks == []
    async with aiohttp.ClientSession(headers={"mj-api-secret": other}) as s:
        status, answer = await post(s, world, "/mj/submit/change", {"taskId": mine, "action": "UPSCALE", "index": 1})
        assert status == 404 and answer["error"]["code"] == "task_not_found"  # another owner's task id
        status, tasks = await post(s, world, "/mj/task/list-by-condition", {"ids": [mine, running]})
        assert status == 200 and tasks == []
    assert not sent(world, "/mj/submit/change")  # nothing refused here reached the proxy
    assert await world.balanced()
