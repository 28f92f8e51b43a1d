"""Media during a rollout (services/media/legacy.py): an owner still on the old entry has its images, audio
and video tasks forwarded there like its chat (the old system authenticates and bills them; relaygate records
``route=legacy`` and charges nothing), uploads streamed through; a switched owner is served here; tasks stay
with the side that created them, across the switch and a rollback."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest

from relaygate.core.clock import now_ms
from relaygate.services.media import repo
from relaygate.services.operate.media import MediaPricing
from relaygate.store import tables as t
from tests.rollout.conftest import World, build_world
from tests.rollout.oldgw import MEDIA_QUOTA

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")
MIB = 1_048_576


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    async for w in build_world(tmp_path, media_poll_seconds=0.05):
        gw = w.gw.gateway
        await w.gw.add_channel(w.native, "media", ["img-1", "whisper-1", "sora-2"])
        await MediaPricing(gw.engine, "USD").set_price("img-1", "image", "0.04", "*")
        assert gw.media is not None and gw.rollout is not None
        await gw.media.prices.load(gw.engine)
        await gw.rollout.planner.set_legacy("test", f"http://127.0.0.1:{w.old.port}", source=str(w.src),
                                            write_old=True)
        await gw.rollout.planner.plan("pilot", "test", owners=["alice"])
        await gw.rollout.routing.reload()
        yield w


def sdk(world: World, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=world.gw.base_url, api_key=key, max_retries=0)


def served_here(world: World) -> list[str]:
    return [f"{r['method']} {r['path']}" for r in world.native.state.requests]


async def upload(world: World, key: str, size: int) -> tuple[int, dict[str, Any]]:
    """A multipart transcription whose last part is held back until the old entry has seen its first
    megabytes: it only completes if relaygate passes the body on as it arrives."""
    boundary = "relaygate-legacy-boundary"
    audio = hashlib.sha256()
    seen_before = world.old.media.received

    async def body() -> AsyncIterator[bytes]:
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nwhisper-1\r\n"
               f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"long.wav\"\r\n"
               "Content-Type: audio/wav\r\n\r\n").encode()
        block = b"\x02" * MIB
        for i in range(size // MIB):
            if i == size // MIB - 1:  # the last megabyte waits for the old entry to have read the first ones
                for _ in range(500):
                    if world.old.media.received - seen_before >= 2 * MIB:
                        break
                    await asyncio.sleep(0.01)
                else:
                    raise AssertionError("the old entry saw nothing before the whole body was sent")
            audio.update(block)
            yield block
        yield f"\r\n--{boundary}--\r\n".encode()

    async with aiohttp.ClientSession() as s, s.post(
            f"{world.gw.base_url}/audio/transcriptions", data=body(),
            headers={"Authorization": f"Bearer {key}", "Expect": "100-continue",  # as curl sends large uploads
                     "Content-Type": f"multipart/form-data; boundary={boundary}"}) as resp:
        doc = await resp.json()
    assert world.old.media.uploads[-1]["files"][0]["sha256"] == audio.hexdigest()
    return resp.status, doc


async def test_media_follows_the_owner_to_the_old_entry_and_back(world: World) -> None:
    gw, old, key = world.gw.gateway, world.old, world.keys["alice"]
    alice, owner = sdk(world, key), world.owner("alice")
    assert gw.rollout is not None
    ledger_before = len(await world.ledger(owner))
    quota_before = await world.old_quota("alice")

    # 1. alice is on the old entry: images, a multipart transcription, a video task and its polls go there
    image = await alice.images.with_raw_response.generate(model="img-1", prompt="a lighthouse", n=1)
    assert image.parse().data[0].b64_json
    text = await alice.audio.transcriptions.create(model="whisper-1", file=("a.wav", b"\x00" * 64_000, "audio/wav"))
    assert "64000 bytes" in text.text
    status, doc = await upload(world, key, 6 * MIB)
    assert status == 200 and str(6 * MIB) in doc["text"]
    old_video = await alice.videos.create(model="sora-2", prompt="waves", seconds="4")
    assert old_video.id.startswith("video_")  # the old side's own id, passed through unchanged
    for _ in range(100):
        if (await alice.videos.retrieve(old_video.id)).status == "completed":
            break
        await asyncio.sleep(0.05)
    assert (await alice.videos.download_content(old_video.id)).content.startswith(b"RGDEMO-MP4:")
    assert served_here(world) == []
    assert await world.old_quota("alice") == quota_before - 4 * MEDIA_QUOTA  # the old system billed the submits
    assert len(await world.ledger(owner)) == ledger_before  # relaygate charged nothing
    rows = {r["request_id"]: r for r in await world.gw.usage_rows()}
    legacy = [r for r in rows.values() if r["owner_id"] == owner]
    assert legacy and {r["route"] for r in legacy} == {"legacy"} and {r["cost"] for r in legacy} == {0}
    assert rows[image.headers["x-request-id"]]["requested_model"] == "img-1"
    assert {r["requested_model"] for r in legacy if "transcriptions" in r["entry_path"]} == {"whisper-1"}
    assert all((r["detail"] or {}).get("legacy_batch") == "pilot" for r in legacy)

    # 2. switched: served here and charged here; the task created on the old side is still polled there
    await gw.rollout.mover.switch("pilot", "test", "media pilot")
    native = await alice.images.with_raw_response.generate(model="img-1", prompt="a lighthouse", n=1)
    assert (await world.gw.usage_for(native.headers["x-request-id"]))["cost"] == 40_000_000
    assert served_here(world) == ["POST /v1/images/generations"]
    assert (await alice.videos.retrieve(old_video.id)).status == "completed"
    async with aiohttp.ClientSession() as s, s.get(f"{world.gw.base_url}/videos/{old_video.id}/content",
                                                    headers={"Authorization": f"Bearer {key}"}) as resp:
        content = await resp.read()  # the old entry's download, its length kept
        assert content.startswith(b"RGDEMO-MP4:") and resp.headers["Content-Length"] == str(len(content))
    here = await alice.videos.create(model="sora-2", prompt="dunes", seconds="4")
    assert here.id.startswith("task_")

    # 3. rolled back: new media goes to the old entry again; the task made here is still served here
    await gw.rollout.mover.rollback("pilot", "test", "media pilot rolled back")
    assert (await alice.videos.retrieve(here.id)).id == here.id
    polls_old = len(old.counters[key.removeprefix("sk-")].media)
    await alice.images.generate(model="img-1", prompt="again", n=1)
    assert (await alice.videos.create(model="sora-2", prompt="tide", seconds="4")).id.startswith("video_")
    assert len(old.counters[key.removeprefix("sk-")].media) == polls_old + 2
    assert [p for p in served_here(world) if p.startswith("POST /v1/images")] == ["POST /v1/images/generations"]
    assert not [r for r in old.counters[key.removeprefix("sk-")].media if here.id in r]

    # an upload above the limit is refused here as it streams (413), whichever side it was going to
    object.__setattr__(world.gw.gateway.settings, "media_max_upload_bytes", 2 * MIB)

    async def big() -> AsyncIterator[bytes]:
        yield b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.wav\"\r\n\r\n"
        for _ in range(5):
            yield b"\x03" * MIB
        yield b"\r\n--b--\r\n"

    async with aiohttp.ClientSession() as s, s.post(
            f"{world.gw.base_url}/audio/translations", data=big(),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "multipart/form-data; boundary=b"}) as resp:
        assert resp.status == 413 and (await resp.json())["error"]["code"] == "body_too_large"
    assert (await world.gw.usage_for(resp.headers["x-request-id"]))["route"] == "legacy"

    # a key only the old system knows: its media goes there too, and the old system refuses it
    stranger = sdk(world, "sk-" + "Z" * 48)
    with pytest.raises(openai.AuthenticationError) as refused:
        await stranger.images.generate(model="img-1", prompt="x", n=1)
    assert "无效的令牌" in str(refused.value)
    for client in (alice, stranger):
        await client.close()


async def test_the_video_list_shows_every_task_of_the_owner_across_the_switch(world: World) -> None:
    """GET /v1/videos lists the owner's tasks wherever they run: those the old side created (submitted through
    the legacy route before the switch, their state asked of the old entry), those created here, and a task
    taken over at import; before the switch, after it and after a rollback (New API itself has no list)."""
    gw, key = world.gw.gateway, world.keys["alice"]
    alice = sdk(world, key)
    assert gw.rollout is not None
    old_video = await alice.videos.create(model="sora-2", prompt="waves", seconds="4")
    assert old_video.id.startswith("video_")
    listed = [v.id for v in (await alice.videos.list()).data]
    assert old_video.id in listed  # before the switch too, although the old side has no list

    # a task New API had in flight at `migrate import`, taken over here (by the id its client holds too)
    taken = await taken_over_row(world, "alice", 41, source_id=f"task_{'4' * 32}")
    await repo.note_legacy(gw.engine, {  # also relayed from the old side once: listed once, as ours
        "owner_id": world.owner("alice"), "old_id": f"task_{'4' * 32}", "key_id": "k", "surface": "openai",
        "model": "sora-2", "request_id": "req_x", "created_at": now_ms(), "answer": {}})
    listed = [v.id for v in (await alice.videos.list()).data]
    assert taken in listed and f"task_{'4' * 32}" not in listed

    await gw.rollout.mover.switch("pilot", "test", "media pilot")
    here = await alice.videos.create(model="sora-2", prompt="dunes", seconds="4")
    assert here.id.startswith("task_")
    page = await alice.videos.list()
    assert taken in [v.id for v in page.data]
    by_id = {v.id: v for v in page.data}
    assert old_video.id in by_id and here.id in by_id, list(by_id)
    for _ in range(100):  # the old side's task shows its state as the old entry reports it
        if by_id[old_video.id].status == "completed":
            break
        await asyncio.sleep(0.05)
        by_id = {v.id: v for v in (await alice.videos.list()).data}
    assert by_id[old_video.id].status == "completed" and by_id[old_video.id].model == "sora-2"
    assert [v.id for v in page.data][:3] == [here.id, taken, old_video.id]  # newest first
    first = await alice.videos.list(limit=1)  # one page at a time, across both sides
    assert [v.id for v in first.data] == [here.id] and first.has_more
    second = await alice.videos.list(limit=1, after=here.id)
    assert [v.id for v in second.data] == [taken]
    third = await alice.videos.list(limit=1, after=taken)
    assert [v.id for v in third.data] == [old_video.id]

    await gw.rollout.mover.rollback("pilot", "test", "media pilot rolled back")
    again = {v.id for v in (await alice.videos.list()).data}
    assert {old_video.id, here.id} <= again
    bob = sdk(world, world.keys["bob"])  # another owner sees none of them, and cannot page from them
    assert not {v.id for v in (await bob.videos.list()).data} & {old_video.id, here.id, taken}
    with pytest.raises(openai.NotFoundError):
        await bob.videos.list(after=old_video.id)
    await bob.close()
    await alice.close()


async def taken_over_row(world: World, user: str, row_id: int, source_id: str) -> str:
    """What `migrate import` writes for a New API task in flight (services/migration/import_tasks.py), here one
    the old side has finished meanwhile."""
    gw = world.gw.gateway
    channel = next(iter(gw.state.snapshot.channels.values()))
    now = now_ms()
    key_id = next(k.id for k in gw.state.snapshot.keys_by_id.values() if k.owner_id == world.owner(user))
    task_id = f"task_nat{row_id}"
    async with gw.engine.begin() as conn:
        await conn.execute(t.media_tasks.insert().values(
            id=task_id, request_id=f"imp:na:t{row_id}", owner_id=world.owner(user), key_id=key_id,
            masked_key="sk-…", group_name="default", model="sora-2", kind="video", surface="openai",
            protocol="openai", channel_id=channel.id, upstream_task_id="up-1", state="succeeded",
            upstream_started=True, progress=100, params={"action": "text2video", "imported": {"system": "newapi"}},
            callback_state="none", callback_attempts=0, download_state="none", hold=0, cost=0,
            units={"unit": "call", "variant": "*", "count": 1, "per_unit": 0}, created_at=now, updated_at=now,
            expires_at=now + 600_000, poll_failures=0, source_id=source_id, prepaid=0))
    return task_id
