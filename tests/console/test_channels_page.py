"""The channels page over a real socket: health with why and until, edit, disable with a reason and enable,
Test for one channel and for all, and no redirect off the console."""

from __future__ import annotations

import re

from tests.console.helpers import Browser, add_operators
from tests.harness import Running, start_fake


async def test_health_edit_toggle_and_test_all(gw: Running) -> None:
    fake = await start_fake()
    try:
        await add_operators(gw)
        first = await gw.add_channel(fake, "primary", ["demo-chat"])
        second = await gw.add_channel(fake, "spare", ["demo-chat", "demo-mini"])
        health = gw.gateway.health
        for _ in range(10):  # past the failure threshold: the channel cools down
            health.failure(second, "upstream 503 (scripted)")
        async with Browser(gw) as b:
            await b.sign_in("ada")
            _, html = await b.get("/console/channels")
            row = html.split(f"/console/channels/{second}\"")[1].split("</tr>")[0]
            assert "upstream 503 (scripted)" in row and re.search(r"\d{4}-\d\d-\d\dT", row)  # why, until when
            status, html = await b.post(f"/console/channels/{first}", {"name": "primary-eu", "base_url": fake.base_url,
                                                                       "models": "demo-chat\ndemo-mini=demo-chat"})
            assert status == 200
            view = await gw.gateway.routing.get_channel(str(first))
            assert view["name"] == "primary-eu" and view["models"] == {"demo-chat": "demo-chat",
                                                                       "demo-mini": "demo-chat"}
            assert "sk-upstream-test-secret" not in html  # kept, never shown
            status, _ = await b.post(f"/console/channels/{first}/toggle", {"reason": "provider maintenance"})
            view = await gw.gateway.routing.get_channel(str(first))
            assert not view["enabled"] and view["disabled_reason"] == "provider maintenance"
            await b.post(f"/console/channels/{first}/toggle", {})
            assert (await gw.gateway.routing.get_channel(str(first)))["enabled"]
            async with b.session.post(b.url(f"/console/channels/{first}/toggle"), allow_redirects=False,
                                      data={"csrf": b.csrf, "back": "https://evil.example/phish"}) as resp:
                assert resp.status == 303 and resp.headers["location"].startswith("/console/")  # never off-site
            async with b.session.post(b.url(f"/console/channels/{first}/toggle"), allow_redirects=False,
                                      data={"csrf": b.csrf, "back": "//evil.example/x"}) as resp:
                assert resp.headers["location"].startswith("/console/") and "evil" not in resp.headers["location"]
            status, html = await b.post("/console/channels/test")  # Test all: one request per served model
            assert status == 200
            assert html.count('data-testid="test-ok"') == 4, html  # primary-eu: 2 models, spare: 2 models
    finally:
        await fake.stop()
