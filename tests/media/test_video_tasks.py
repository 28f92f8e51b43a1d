"""Video tasks: each terminal state's charge, owners kept apart, SSRF, callbacks, restarts, Kling."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import openai
import orjson
import pytest
from aiohttp import web

from relaygate.core.money import parse_amount
from relaygate.services.media import callbacks
from tests.harness import plan, running_gateway, start_fake
from tests.media.conftest import MEDIA_SETTINGS, MediaWorld, setup_world

# the SDK warns that OpenAI's own video service closes; its API shape is what relaygate serves
pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")


def api(world: MediaWorld, secret: str | None = None) -> openai.AsyncOpenAI:
    client = openai.AsyncOpenAI(base_url=world.gw.base_url, api_key=secret or world.secret, max_retries=0)
    world.clients.append(client)
    return client


async def video_plan(world: MediaWorld, model: str, **behaviour: Any) -> None:
    await plan(world.fake, f"video:{model}", {"kind": "video", **behaviour})


async def test_a_succeeded_video_is_settled_to_the_seconds_the_upstream_reports(world: MediaWorld) -> None:
    await video_plan(world, "sora-2", delay=0.3, seconds=8)
    before = await world.available()
    video = await api(world).videos.create(model="sora-2", prompt="a cat on a skateboard", seconds="12")
    assert video.id.startswith("task_") and video.status in ("queued", "in_progress")
    held = 12 * parse_amount("0.10")
    assert await world.available() == before - held  # held on submit
    row = await world.until(video.id, "succeeded")
    done = await api(world).videos.retrieve(video.id)
    assert done.status == "completed" and done.progress == 100
    content = await api(world).videos.download_content(video.id)
    assert content.content.startswith(b"RGDEMO-MP4:")
    assert row.cost == 8 * parse_amount("0.10") and row.units["count"] == 8
    assert await world.available() == before - 8 * parse_amount("0.10")
    entries = [(e.kind, e.amount, e.held) for e in await world.ledger() if e.request_id == row.request_id]
    assert entries == [("hold", 0, held), ("release", 0, -held), ("settle", -row.cost, 0)]
    usage = await world.gw.usage_for(row.request_id)
    assert usage["cost"] == row.cost and usage["detail"]["task_id"] == video.id
    assert await world.balanced()
    # the caller never learns the upstream's id or address
    shown = orjson.dumps(done.model_dump()).decode()
    assert row.upstream_task_id not in shown and str(world.fake.port) not in shown
    assert done.seconds == "8"


@pytest.mark.parametrize(("outcome", "code"), [("failed", "upstream_task_failed"),
                                               ("moderation", "moderation_rejected")])
async def test_failed_and_moderated_videos_release_the_hold_in_full(world: MediaWorld, outcome: str,
                                                                     code: str) -> None:
    await video_plan(world, "sora-2", delay=0.2, outcome=outcome)
    before = await world.available()
    video = await api(world).videos.create(model="sora-2", prompt="x")
    row = await world.until(video.id, "failed")
    assert row.cost == 0 and row.error_code == code
    assert await world.available() == before
    kinds = [(e.kind, e.reason) for e in await world.ledger() if e.request_id == row.request_id]
    assert [k for k, _ in kinds] == ["hold", "release"] and "released in full" in (kinds[1][1] or "")
    seen = await api(world).videos.retrieve(video.id)
    assert seen.status == "failed" and seen.error is not None and seen.error.code == code
    with pytest.raises(openai.APIStatusError) as info:
        await api(world).videos.download_content(video.id)
    assert info.value.status_code == 409
    assert await world.balanced()


async def test_a_task_that_never_ends_expires_and_is_released(world: MediaWorld) -> None:
    object.__setattr__(world.gw.gateway.settings, "media_task_ttl_seconds", 0.4)
    await video_plan(world, "sora-2", outcome="never")
    before = await world.available()
    video = await api(world).videos.create(model="sora-2", prompt="x")
    row = await world.until(video.id, "expired")
    assert row.cost == 0 and row.error_code == "task_expired"
    assert await world.available() == before
    assert await world.balanced()


async def test_cancel_before_start_releases_and_cancel_while_running_is_refused(world: MediaWorld) -> None:
    await video_plan(world, "sora-2", delay=30)  # stays queued for 10 s
    before = await world.available()
    queued = await api(world).videos.create(model="sora-2", prompt="x")
    deleted = await api(world).videos.delete(queued.id)
    assert deleted.deleted is True
    row = await world.until(queued.id, "cancelled")
    assert row.cost == 0 and await world.available() == before
    await video_plan(world, "sora-2", delay=3)
    running = await api(world).videos.create(model="sora-2", prompt="y")
    await world.until(running.id, "running")
    with pytest.raises(openai.APIStatusError) as info:
        await api(world).videos.delete(running.id)
    assert info.value.status_code == 409 and "already running" in str(info.value)


async def test_another_owners_task_is_404_everywhere(world: MediaWorld) -> None:
    await video_plan(world, "sora-2", delay=0.1)
    video = await api(world).videos.create(model="sora-2", prompt="mine")
    await world.until(video.id, "succeeded")
    other, _ = await world.gw.add_key("someone else")
    stranger = api(world, other)
    for call in (stranger.videos.retrieve(video.id), stranger.videos.download_content(video.id),
                 stranger.videos.delete(video.id)):
        with pytest.raises(openai.NotFoundError):
            await call
    assert (await stranger.videos.list()).data == []
    mine = await api(world).videos.list()
    assert [v.id for v in mine.data] == [video.id]


async def test_callback_and_reference_urls_to_private_addresses_are_refused(tmp_path: Path) -> None:
    fake = await start_fake()
    settings = {**MEDIA_SETTINGS, "media_allow_hosts": ""}
    async with running_gateway(f"sqlite+aiosqlite:///{tmp_path}/r.db", data_dir=str(tmp_path), **settings) as gw:
        world = await setup_world(gw, fake)
        before = await world.available()
        async with aiohttp.ClientSession(headers=world.headers()) as s:
            for url in ("http://169.254.169.254/latest/meta-data", "http://127.0.0.1:9/hook", "http://10.1.2.3/",
                        "http://[::1]/x", "http://metadata.google.internal/", "file:///etc/passwd"):
                async with s.post(f"{world.root}/v1/videos", json={"model": "sora-2", "prompt": "x",
                                                                   "callback_url": url}) as resp:
                    assert resp.status == 400, url
                    assert (await resp.json())["error"]["code"] == "url_not_allowed"
            async with s.post(f"{world.root}/kling/v1/videos/image2video",
                              json={"model_name": "kling-v1", "image": "http://192.168.1.1/cat.png"}) as resp:
                assert resp.status == 400
        assert not [r for r in fake.state.requests if "videos" in r["path"]]
        assert await world.available() == before


class Receiver:
    """A callback receiver on 127.0.0.1 that fails its first ``fail`` deliveries."""

    def __init__(self, fail: int) -> None:
        self.fail = fail
        self.got: list[tuple[dict[str, str], bytes]] = []
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.got.append(({k.lower(): v for k, v in request.headers.items()}, await request.read()))
        return web.Response(status=500 if len(self.got) <= self.fail else 204)

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{self.port}/hook"

    async def stop(self) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


async def test_callbacks_are_signed_retried_and_recorded(world: MediaWorld) -> None:
    receiver = Receiver(fail=2)
    url = await receiver.start()
    try:
        await video_plan(world, "sora-2", delay=0.1)
        async with aiohttp.ClientSession(headers=world.headers()) as s:
            async with s.post(f"{world.root}/v1/videos", json={"model": "sora-2", "prompt": "x",
                                                               "callback_url": url}) as resp:
                task_id = (await resp.json())["id"]
        for _ in range(200):
            if (await world.task(task_id)).callback_state == "delivered":
                break
            await asyncio.sleep(0.05)
        row = await world.task(task_id)
        assert row.callback_state == "delivered" and row.callback_attempts == 3
        headers, body = receiver.got[-1]
        secret = callbacks.key_secret(b"test-callback-secret", world.key_id)
        ts = int(headers["x-relaygate-timestamp"])
        assert callbacks.verify(secret, ts, body, headers["x-relaygate-signature"], int(time.time()))
        assert not callbacks.verify(secret, ts, body + b" ", headers["x-relaygate-signature"], int(time.time()))
        assert not callbacks.verify(secret, ts - 600, body, headers["x-relaygate-signature"], int(time.time()))
        doc = orjson.loads(body)
        assert doc["event"] == "task.succeeded" and doc["id"] == task_id and doc["status"] == "completed"
        admin = world.gw.gateway
        from relaygate.services.operate.media import MediaPricing

        view = await MediaPricing(admin.engine, "USD").task(task_id)
        assert view is not None and [d["status"] for d in view["deliveries"]] == [500, 500, 204]
    finally:
        await receiver.stop()


async def test_an_operator_sets_a_keys_callback_url_and_a_submits_own_wins(world: MediaWorld) -> None:
    receiver, own = Receiver(fail=0), Receiver(fail=0)
    url, own_url = await receiver.start(), await own.start()
    admin = {"Authorization": f"Bearer {world.gw.admin_token}"}
    try:
        async with aiohttp.ClientSession(headers=admin) as s:
            async with s.put(f"{world.root}/api/media/keys/{world.key_id}/callback", json={"url": url}) as r:
                assert r.status == 200 and (await r.json())["callback_url"] == url
            async with s.put(f"{world.root}/api/media/keys/{world.key_id}/callback",
                             json={"url": "http://10.1.2.3/hook"}) as r:  # private: refused, not stored
                assert r.status == 400 and "private" in (await r.json())["error"]["message"]
        for body in ({}, {"callback_url": own_url}):
            await video_plan(world, "sora-2", delay=0.1)
            async with aiohttp.ClientSession(headers=world.headers()) as s:
                async with s.post(f"{world.root}/v1/videos", json={"model": "sora-2", "prompt": "x", **body}) as r:
                    task_id = (await r.json())["id"]
            for _ in range(200):
                if (await world.task(task_id)).callback_state == "delivered":
                    break
                await asyncio.sleep(0.05)
            assert (await world.task(task_id)).callback_state == "delivered"
        assert len(receiver.got) == 1 and len(own.got) == 1  # the key's URL, then the submit's own
        headers, payload = receiver.got[0]
        secret = callbacks.key_secret(b"test-callback-secret", world.key_id)
        assert callbacks.verify(secret, int(headers["x-relaygate-timestamp"]), payload,
                                headers["x-relaygate-signature"], int(time.time()))
        async with aiohttp.ClientSession(headers=admin) as s:
            async with s.delete(f"{world.root}/api/media/keys/{world.key_id}/callback") as r:
                assert (await r.json())["callback_url"] is None
            async with s.get(f"{world.root}/api/media/keys/nope/callback") as r:
                assert r.status == 404
    finally:
        await receiver.stop()
        await own.stop()


async def test_a_callback_that_always_fails_is_marked_failed(world: MediaWorld) -> None:
    object.__setattr__(world.gw.gateway.settings, "media_callback_attempts", 2)
    receiver = Receiver(fail=99)
    url = await receiver.start()
    try:
        await video_plan(world, "sora-2", delay=0.1, outcome="failed")
        async with aiohttp.ClientSession(headers=world.headers()) as s:
            async with s.post(f"{world.root}/v1/videos", json={"model": "sora-2", "prompt": "x",
                                                               "callback_url": url}) as resp:
                task_id = (await resp.json())["id"]
        for _ in range(200):
            if (await world.task(task_id)).callback_state == "failed":
                break
            await asyncio.sleep(0.05)
        row = await world.task(task_id)
        assert row.callback_state == "failed" and row.callback_attempts == 2 and len(receiver.got) == 2
        assert orjson.loads(receiver.got[0][1])["event"] == "task.failed"
    finally:
        await receiver.stop()


async def test_tasks_in_flight_resume_after_a_restart_and_are_charged_once(tmp_path: Path) -> None:
    fake = await start_fake()
    url = f"sqlite+aiosqlite:///{tmp_path}/r.db"
    async with running_gateway(url, data_dir=str(tmp_path), **MEDIA_SETTINGS) as gw:
        world = await setup_world(gw, fake)
        await plan(fake, "video:sora-2", {"kind": "video", "delay": 2.0})
        before = await world.available()
        async with aiohttp.ClientSession(headers=world.headers()) as s:
            async with s.post(f"{world.root}/v1/videos", json={"model": "sora-2", "prompt": "x",
                                                               "seconds": 4}) as resp:
                task_id = (await resp.json())["id"]
        gw.fakes.remove(fake)  # keep the upstream running across the restart
    async with running_gateway(url, data_dir=str(tmp_path), **MEDIA_SETTINGS) as gw2:
        gw2.fakes.append(fake)
        world2 = MediaWorld(gw2, fake, world.secret, world.key_id, world.owner_id)
        held = 4 * parse_amount("0.10")
        assert await world2.available() == before - held  # the hold was taken again at start
        row = await world2.until(task_id, "succeeded")
        assert row.cost == held
        await asyncio.sleep(0.3)  # more poll rounds: nothing more happens
        entries = [e.kind for e in await world2.ledger() if e.request_id == row.request_id]
        assert entries == ["hold", "release", "settle"]
        assert await world2.available() == before - held
        assert await world2.balanced()


async def test_kling_routes_as_new_api_serves_them(world: MediaWorld) -> None:
    await video_plan(world, "kling-v1", delay=0.2, seconds=5)
    async with aiohttp.ClientSession(headers=world.headers()) as s:
        async with s.post(f"{world.root}/kling/v1/videos/text2video",
                          json={"model_name": "kling-v1", "prompt": "a koi pond", "duration": "5"}) as resp:
            assert resp.status == 200
            doc = await resp.json()
        assert doc["code"] == 0 and doc["data"]["task_id"].startswith("task_")
        task_id = doc["data"]["task_id"]
        assert doc["data"]["task_status"] in ("submitted", "processing")
        await world.until(task_id, "succeeded")
        async with s.get(f"{world.root}/kling/v1/videos/text2video/{task_id}") as resp:
            doc = await resp.json()
        assert doc["data"]["task_status"] == "succeed"
        video = doc["data"]["task_result"]["videos"][0]
        assert video["url"] == f"{world.root}/v1/videos/{task_id}/content" and video["duration"] == "5"
        async with s.get(video["url"]) as resp:
            assert resp.status == 200 and (await resp.read()).startswith(b"RGDEMO-MP4:kling_")
    sent = [r for r in world.fake.state.requests if r["path"] == "/v1/videos/text2video"]
    assert sent and sent[0]["body"]["model_name"] == "kling-v1"
    assert sent[0]["headers"]["authorization"].count(".") == 2  # a JWT, not the raw access key
    row = await world.task(task_id)
    assert row.cost == 5 * parse_amount("0.05") and row.protocol == "kling"


async def test_a_slow_download_streams_with_flat_memory(world: MediaWorld) -> None:
    await video_plan(world, "sora-2", delay=0.1, content_bytes=30 * 1_048_576, chunk_delay=0.001)
    video = await api(world).videos.create(model="sora-2", prompt="x")
    await world.until(video.id, "succeeded")
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    total = 0
    async with aiohttp.ClientSession(headers=world.headers()) as s:
        async with s.get(f"{world.root}/v1/videos/{video.id}/content") as resp:
            assert resp.status == 200 and resp.headers["Content-Type"] == "video/mp4"
            async for chunk in resp.content.iter_chunked(65_536):
                total += len(chunk)
    assert total == 30 * 1_048_576
    assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak) / 1024 < 20
