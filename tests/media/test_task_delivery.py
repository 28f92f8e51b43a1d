"""Callbacks: signed, retried, recorded; a key's own URL (services/media/task_delivery.py)."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import orjson
from aiohttp import web

from relaygate.services.media import callbacks
from tests.media.conftest import MediaWorld, video_plan


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
