"""A task's end and its money: each terminal state's charge (services/media/task_end.py)."""

from __future__ import annotations

import openai
import orjson
import pytest

from relaygate.core.money import parse_amount
from tests.media.conftest import MediaWorld, api, video_plan

# the SDK warns that OpenAI's own video service closes; its API shape is what relaygate serves
pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")


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
