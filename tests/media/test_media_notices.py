"""The notices for image and video clients name this gateway's media models, and the scripts they hand out
work: the OpenAI SDK example and the curl script for Kling's task routes run against a live gateway."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import openai
import pytest

from relaygate.services.notices.clients import BaseForms
from relaygate.services.notices.context import gather
from relaygate.services.notices.plan import MigrationPlan
from relaygate.services.notices.render import render_notices
from relaygate.services.notices.setup import client_setup, media_examples
from tests.harness import plan
from tests.media.conftest import MediaWorld

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")


def block(md: str, lang: str) -> str:
    found = re.search(rf"```{lang}\n(.*?)```", md, re.S)
    assert found, f"no {lang} block"
    return found.group(1)


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True, timeout=90)


async def test_media_notices_name_the_models_and_their_scripts_work(world: MediaWorld, tmp_path: Path) -> None:
    gw = world.gw.gateway
    object.__setattr__(gw.settings, "public_base_url", world.root)
    live = await gather(gw.engine, gw.settings, MigrationPlan())
    assert (live.media.image, live.media.kling) == (("img-1",), ("kling-v1",)) and "sora-2" in live.media.video
    for lang in ("en", "zh-CN"):
        files = render_notices(live, lang)
        sdk, kling = files["emails/openai-media.md"], files["emails/kling-http.md"]
        assert 'model="img-1"' in sdk and 'model="sora-2"' in sdk and "IMAGE_MODEL" not in sdk
        assert '"model_name": "kling-v1"' in kling and f'BASE="{world.root}"' in kling
        assert world.secret not in sdk + kling

    files = render_notices(live, "en")
    await plan(world.fake, "video:kling-v1", {"kind": "video", "delay": 0.2, "seconds": 5})
    await plan(world.fake, "video:sora-2", {"kind": "video", "delay": 0.2, "seconds": 4})
    script = tmp_path / "kling.sh"
    script.write_text(block(files["emails/kling-http.md"], "bash"))
    env = {"RELAYGATE_API_KEY": world.secret, "OPENAI_API_KEY": world.secret}
    done = await asyncio.to_thread(run, ["sh", str(script)], tmp_path, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "waves.mp4").read_bytes().startswith(b"RGDEMO-MP4:kling_")
    (tmp_path / "waves.mp4").unlink()
    example = tmp_path / "media.py"
    example.write_text(block(files["emails/openai-media.md"], "python"))
    done = await asyncio.to_thread(run, [sys.executable, str(example)], tmp_path, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "waves.mp4").read_bytes().startswith(b"RGDEMO-MP4:video_")

    # the portal's set-up page reads the same clients and examples, with the key holder's own models
    forms = BaseForms.from_setting(world.root)
    models = ["img-1", "kling-v1", "sora-2", "tts-1"]
    setup = client_setup("kling-http", forms, models, "zh-CN", media_examples(gw.state.snapshot, gw.media, models))
    assert setup["base_url"] == world.root and '"model_name": "kling-v1"' in setup["example"]
    assert "sk-abcd…wxyz" in setup["example"] and world.secret not in setup["example"]
    assert any("Authorization" in m for m in setup["mistakes"])
    setup = client_setup("openai-media", forms, models, "en", media_examples(gw.state.snapshot, gw.media, models))
    assert setup["base_url"] == world.root + "/v1" and 'model="img-1"' in setup["example"]


async def test_the_statement_and_price_list_state_media_with_their_units(world: MediaWorld) -> None:
    from relaygate.services.operate.media import MediaPricing
    from relaygate.services.operate.statements import build_statement, render_statement

    api = openai.AsyncOpenAI(base_url=world.gw.base_url, api_key=world.secret, max_retries=0)
    world.clients.append(api)
    await api.images.generate(model="img-1", prompt="a lighthouse", n=2, size="1024x1024")
    await api.audio.speech.create(model="tts-1", voice="alloy", input="x" * 1200)
    await plan(world.fake, "video:sora-2", {"kind": "video", "delay": 0.1, "seconds": 8})
    video = await api.videos.create(model="sora-2", prompt="waves", seconds="12")
    await world.until(video.id, "succeeded")
    await world.gw.gateway.usage.flush()
    st = await build_statement(world.gw.gateway.engine, "studio", None, None, "USD")
    units = {u["model"]: u["units"] for u in st["usage"]}
    assert units == {"img-1": {"image": 2}, "tts-1": {"mchars": 1200}, "sora-2": {"second": 8}}  # 8 s delivered
    md = render_statement(st, "md")
    assert "| 2 image(s) |" in md and "| 8 second(s) |" in md and "| 1200 character(s) |" in md
    assert "| 2 张图片 |" in render_statement(st, "md", "zh-CN")
    assert "8 second(s)" in render_statement(st, "csv")
    prices = {p["summary"] for p in await MediaPricing(world.gw.gateway.engine, "USD").list_prices()}
    assert {"$0.04 per image (1024x1024/standard)", "$0.10 per second", "$15.00 per 1M characters"} <= prices
