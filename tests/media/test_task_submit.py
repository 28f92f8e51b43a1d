"""Submitting tasks: SSRF refused before anything is held, Kling's routes (services/media/task_submit.py)."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from relaygate.core.money import parse_amount
from tests.harness import running_gateway, start_fake
from tests.media.conftest import MEDIA_SETTINGS, MediaWorld, setup_world, video_plan


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
