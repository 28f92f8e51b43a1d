"""The support desk over a real socket, as a support teammate uses it: the week's base-URL mistakes counted,
a failed request found by time + model + status, the diagnosis by request id and by masked key with the
drafted reply in either language, and never a secret on the page."""

from __future__ import annotations

import re

import aiohttp

from tests.console.helpers import Browser, add_operators
from tests.harness import Running, start_fake


async def test_mistakes_search_and_diagnosis_without_secrets(gw: Running) -> None:
    fake = await start_fake()
    try:
        await add_operators(gw)
        await gw.add_channel(fake, "primary", ["demo-chat"])
        secret, key_id = await gw.add_key("dora", name="cherry")
        auth = {"Authorization": f"Bearer {secret}", "User-Agent": "CherryStudio/1.9.6"}
        async with aiohttp.ClientSession() as s:
            for _ in range(2):  # the base URL with /v1 twice
                async with s.post(gw.root + "/v1/v1/chat/completions", headers=auth,
                                  json={"model": "demo-chat", "messages": []}) as resp:
                    assert resp.status == 404
            async with s.post(gw.base_url + "/chat/completions", headers=auth,
                              json={"model": "gpt-9", "messages": [{"role": "user", "content": "x"}]}) as resp:
                assert resp.status == 404
        rows = await gw.usage_rows()
        failed = next(r for r in rows if r["requested_model"] == "gpt-9")
        masked = (await gw.gateway.accounts.get_key(key_id))["masked"]
        async with Browser(gw) as b:
            await b.sign_in("sam")
            _, html = await b.get("/console/support")
            mistakes = html.split("Base-URL and setup mistakes (7 days)")[1].split("</table>")[0]
            counts = re.findall(r'<td class="mono">([^<]+)</td><td class="num">(\d+)</td>', mistakes)
            assert any(int(n) == 2 for _, n in counts), counts  # the week's /v1/v1 mistakes, counted
            _, html = await b.get("/console/support?model=gpt-9&status=404&at=5m")
            assert failed["request_id"] in html  # time + model + status
            for q, lang, words in ((failed["request_id"], "zh-CN", "gpt-9"), (masked, "en", "gpt-9")):
                status, html = await b.get(f"/console/support?q={q}&reply={lang}")
                assert status == 200
                for part in ("cause", "next-action", "reply"):
                    assert f'data-testid="{part}"' in html, (q, part)
                reply = html.split('data-testid="reply"')[1].split("</pre>")[0]
                assert words in reply or masked in reply, q
                if lang == "zh-CN":
                    assert re.search(r"[\u4e00-\u9fff]", reply)
                assert secret not in html
    finally:
        await fake.stop()
