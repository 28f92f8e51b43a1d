"""A new key's ready configuration: the chosen client's, from the same source as the notices and the portal
(services/notices/setup.py), naming a model this key may call rather than a fixed example."""

from __future__ import annotations

import html
import re

from relaygate.services.notices.clients import BaseForms
from relaygate.services.notices.setup import client_setup
from tests.console.helpers import Browser, add_operators
from tests.harness import Running, start_fake


async def test_the_snippet_names_a_model_the_key_may_call_and_opens_the_chosen_client(gw: Running) -> None:
    fake = await start_fake()
    try:
        await add_operators(gw)
        await gw.add_channel(fake, "primary", ["house-chat-1"])
        await gw.add_key("acme", name="first")
        owner = next(o for o in await gw.gateway.accounts.list_owners() if o["name"] == "acme")
        async with Browser(gw) as b:
            await b.sign_in("ada")
            _, listing = await b.get("/console/keys")
            assert 'name="client"' in listing  # the operator picks the client before the secret is shown
            status, page = await b.post("/console/keys", {"name": "snippet", "owner": owner["id"],
                                                          "group": "default", "environment": "production",
                                                          "client": "claude-code"})
        assert status == 200
        secret = re.search(r'data-testid="secret">([^<]+)<', page).group(1)  # type: ignore[union-attr]
        python = html.unescape(re.search(r'id="snippet-python-sdk">([^<]*)<', page, re.S).group(1))  # type: ignore[union-attr]
        assert 'model="house-chat-1"' in python and "gpt-4o-mini" not in python
        assert secret in python
        assert re.search(r'<details open[^>]*><summary>Claude Code</summary>', page)
        # the same text the portal's set-up page and the notices build, with the secret where they mask it
        forms = BaseForms.from_setting(gw.gateway.settings.public_base_url, gw.root.removeprefix("http://"),
                                       "http")
        same = client_setup("python-sdk", forms, ["house-chat-1"], "en")["example"]
        assert python == same.replace(same.split('api_key="')[1].split('"')[0], secret)
    finally:
        await fake.stop()


def test_each_client_has_its_own_name_in_each_language() -> None:
    from relaygate.services.notices.key_setup import client_choices

    for lang in ("en", "zh-CN"):
        labels = [label for _, label in client_choices(lang)]
        assert len(set(labels)) == len(labels), lang
    assert dict(client_choices("zh-CN"))["python-sdk"] == "OpenAI Python SDK"
