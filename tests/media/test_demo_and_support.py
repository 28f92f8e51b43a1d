"""The built-in demo upstream serves images, speech and a video task; support understands task ids."""

from __future__ import annotations

import asyncio
from pathlib import Path

import openai
import pytest

from relaygate.services.support.diagnose import SupportDesk
from tests.harness import running_gateway
from tests.media.conftest import MEDIA_SETTINGS

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")


async def test_the_demo_upstream_serves_every_media_kind_from_the_first_start(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        demo_port = s.getsockname()[1]
    async with running_gateway(f"sqlite+aiosqlite:///{tmp_path}/r.db", data_dir=str(tmp_path), demo_upstream=True,
                               demo_port=demo_port, **MEDIA_SETTINGS) as gw:
        async with openai.AsyncOpenAI(base_url=gw.base_url, api_key=gw.api_key, max_retries=0) as api:
            image = await api.images.generate(model="demo-image", prompt="a lighthouse")
            assert image.data and image.data[0].revised_prompt and "demo upstream" in image.data[0].revised_prompt
            speech = await api.audio.speech.create(model="demo-speech", voice="alloy", input="hello there")
            assert len(speech.content) > 0
            text = await api.audio.transcriptions.create(model="demo-transcribe",
                                                         file=("a.wav", b"\x00" * 32_000, "audio/wav"))
            assert "demo upstream" in text.text
            video = await api.videos.create(model="demo-video", prompt="waves")
            for _ in range(100):
                video = await api.videos.retrieve(video.id)
                if video.status == "completed":
                    break
                await asyncio.sleep(0.05)
            assert video.status == "completed"
            assert (await api.videos.download_content(video.id)).content.startswith(b"RGDEMO-MP4:")
        diagnosis = await SupportDesk(gw.gateway.engine, gw.gateway.settings).diagnose(video.id, reply_lang="zh-CN")
        assert diagnosis.view()["evidence"]["request_id"].startswith("req_")
        assert (diagnosis.found, diagnosis.rule) == ("task", "task_succeeded") and not diagnosis.warnings
        assert diagnosis.task is not None and diagnosis.task["state"] == "succeeded"
        assert diagnosis.reply is not None and video.id in diagnosis.reply and "已成功" in diagnosis.reply
        rows = [r for r in await gw.usage_rows() if r["requested_model"] == "demo-video"]
        assert all(r["cost"] == 0 for r in rows)  # demo models are free


async def test_media_prices_and_tasks_over_the_admin_api(tmp_path: Path) -> None:
    import aiohttp

    async with running_gateway(f"sqlite+aiosqlite:///{tmp_path}/r.db", data_dir=str(tmp_path)) as gw:
        auth = {"Authorization": f"Bearer {gw.admin_token}"}
        async with aiohttp.ClientSession(headers=auth) as s:
            async with s.put(f"{gw.root}/api/media/prices", json={"model": "img-1", "unit": "image",
                                                                  "variant": "1024x1024", "amount": "0.04"}) as r:
                assert r.status == 200 and (await r.json())["summary"] == "$0.04 per image (1024x1024)"
            async with s.put(f"{gw.root}/api/media/prices", json={"model": "gpt-4o-transcribe", "unit": "mtokens",
                                                                  "amount": "2.5"}) as r:
                assert r.status == 200 and (await r.json())["summary"] == "$2.50 per 1M output tokens"
            async with s.put(f"{gw.root}/api/media/prices", json={"model": "img-1", "unit": "pixel",
                                                                  "amount": "1"}) as r:
                assert r.status == 400
            async with s.get(f"{gw.root}/api/media/prices") as r:
                assert [p["model"] for p in await r.json()] == ["gpt-4o-transcribe", "img-1"]
            async with s.get(f"{gw.root}/api/media/tasks/task_nope") as r:
                assert r.status == 404
        async with aiohttp.ClientSession() as s, s.get(f"{gw.root}/api/media/prices") as r:
            assert r.status == 401
