"""The notices for image and video clients name this gateway's media models, and the scripts they hand out
work: the OpenAI SDK example and the curl script for Kling's task routes run against a live gateway."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

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
