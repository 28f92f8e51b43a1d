"""A task after its submit: cancel, owners kept apart, downloads (services/media/task_reads.py)."""

from __future__ import annotations

import aiohttp
import openai
import pytest

from tests.media.conftest import MediaWorld, api, video_plan

# the SDK warns that OpenAI's own video service closes; its API shape is what relaygate serves
pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")


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
