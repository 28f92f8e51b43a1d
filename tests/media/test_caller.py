"""Who calls media (services/media/caller.py): an imported key's channel pin (``sk-<key>-<channel id>``) is
honoured for an admin as on chat, and refused as the old systems refused it."""

from __future__ import annotations

import openai
import pytest

from relaygate.core.clock import now_ms
from relaygate.store import tables as t
from tests.media.conftest import MediaWorld, api, video_plan

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")


async def pinning(world: MediaWorld, pin: str) -> tuple[int, int]:
    """The world's key as an imported New API key whose user may (``admin``) or may not pin; a second
    media channel (lower priority: never chosen unpinned) and a disabled one. Returns their ids."""
    gw = world.gw
    backup = await gw.add_channel(world.fake, "media-backup", ["img-1", "sora-2"], priority=-5)
    disabled = await gw.add_channel(world.fake, "media-off", ["img-1"])
    await gw.gateway.routing.update_channel(disabled, enabled=False)
    async with gw.gateway.engine.begin() as conn:
        await conn.execute(t.key_rules.insert().values(key_id=world.key_id, updated_at=now_ms(), rules={
            "system": "newapi", "statuses": "source", "pin": pin}))
    await gw.gateway.state.reload()
    return backup, disabled


async def test_an_admins_pin_is_honoured_on_images_and_video_tasks(world: MediaWorld) -> None:
    backup, disabled = await pinning(world, "admin")
    plain = await api(world).images.with_raw_response.generate(model="img-1", prompt="x", n=1)
    assert (await world.gw.usage_for(plain.headers["x-request-id"]))["channel_id"] != backup
    pinned = api(world, f"{world.secret}-{backup}")
    for _ in range(3):
        raw = await pinned.images.with_raw_response.generate(model="img-1", prompt="x", n=1)
        assert (await world.gw.usage_for(raw.headers["x-request-id"]))["channel_id"] == backup
    await video_plan(world, "sora-2", delay=0.1)
    video = await pinned.videos.create(model="sora-2", prompt="waves", seconds="4")
    assert (await world.until(video.id, "succeeded")).channel_id == backup
    with pytest.raises(openai.PermissionDeniedError) as refused:  # a pin to a disabled channel: 403, as New API
        await api(world, f"{world.secret}-{disabled}").images.generate(model="img-1", prompt="x", n=1)
    assert refused.value.body["code"] == "channel_pin_disabled"  # type: ignore[index]
    kling = next(c.id for c in world.gw.gateway.state.snapshot.channels.values() if c.protocol == "kling")
    with pytest.raises(openai.APIStatusError) as wrong:  # pinned to a channel that cannot make images
        await api(world, f"{world.secret}-{kling}").images.generate(model="img-1", prompt="x", n=1)
    assert wrong.value.body["code"] == "media_not_served"  # type: ignore[index]
    assert await world.balanced()


async def test_a_common_users_pin_is_refused(world: MediaWorld) -> None:
    backup, _ = await pinning(world, "refuse")
    with pytest.raises(openai.PermissionDeniedError) as refused:
        await api(world, f"{world.secret}-{backup}").images.generate(model="img-1", prompt="x", n=1)
    assert refused.value.body["code"] == "channel_pin_not_allowed"  # type: ignore[index]
