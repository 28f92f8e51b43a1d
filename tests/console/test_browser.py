"""The console in a real browser (Chromium via Playwright): what an operator and a support teammate do.

One gateway and one browser for the module; each test opens its own context. Every page is checked
for JavaScript errors and CSP violations. With RELAYGATE_CONSOLE_SCREENSHOTS=docs/console the run
refreshes the screenshots docs/console.md shows.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from sqlalchemy import update

from relaygate.fakeupstream import FakeUpstream
from relaygate.services.migration.importer import run_import
from relaygate.services.migration.plan import build_plan
from relaygate.services.migration.source import Source
from relaygate.services.migration.verify import verify
from relaygate.store import tables as t
from tests.console.browser import Tab, sign_in
from tests.console.conftest import needs_browser, shot_path
from tests.console.helpers import add_operators
from tests.harness import Running, running_gateway, start_fake
from tests.migration.fixtures import load_tables
from tests.migration.helpers import USD
from tests.migration.schemas import oneapi_logs_metadata, oneapi_metadata
from tests.rollout.conftest import one_api_rows

pytestmark = [needs_browser, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[tuple[Running, FakeUpstream]]:
    tmp = tmp_path_factory.mktemp("console")
    fake = await start_fake()
    async with running_gateway(f"sqlite+aiosqlite:///{tmp}/relaygate.db", data_dir=str(tmp),
                               rollup_seconds=0.2) as gw:
        await add_operators(gw)
        await gw.add_channel(fake, "primary", ["demo-chat"])
        secret, _ = await gw.add_key("acme", name="acme web")
        async with aiohttp.ClientSession() as s:
            for i in range(3):
                await s.post(gw.base_url + "/chat/completions", headers={"Authorization": f"Bearer {secret}"},
                             json={"model": "demo-chat", "messages": [{"role": "user", "content": f"hi {i}"}]})
            await s.post(gw.base_url + "/chat/completions", headers={"Authorization": f"Bearer {secret}"},
                         json={"model": "no-such-model", "messages": [{"role": "user", "content": "x"}]})
        await gw.gateway.usage.flush()
        # a rollout: globex's key came from One API; the old entry is another fake
        _, globex_key = await gw.add_key("globex", name="globex imported")
        async with gw.gateway.engine.begin() as conn:
            await conn.execute(update(t.api_keys).where(t.api_keys.c.id == globex_key).values(source="oneapi"))
        rollout = gw.gateway.rollout
        assert rollout is not None
        await rollout.planner.set_legacy("ops", base_url=fake.base_url.removesuffix("/v1"))
        await rollout.planner.plan("pilot", "ops", owners=["globex"])
        await import_one_api(gw, fake, tmp)
        yield gw, fake
    await fake.stop()


async def import_one_api(gw: Running, fake: FakeUpstream, tmp: Path) -> None:
    """A small One API installation imported as `migrate import --apply` does, then `migrate verify`d: the
    migration page's mapping table, verification results and import report; its database is the source an
    inventory reads."""
    src, logs = tmp / "one-api.db", tmp / "one-api-logs.db"
    rows, _ = one_api_rows(fake.base_url.removesuffix("/v1"))
    await load_tables(f"sqlite+aiosqlite:///{src}", oneapi_metadata(), rows)
    await load_tables(f"sqlite+aiosqlite:///{logs}", oneapi_logs_metadata(), {})
    source = await Source.open(str(src), str(logs))
    try:
        plan = await build_plan(source, USD, ["openai"])
    finally:
        await source.close()
    await run_import(plan, gw.gateway.engine, gw.gateway.settings, ["openai"], apply=True)
    await gw.gateway.state.reload()
    await verify(plan, gw.base_url, gw.admin_token, ["m"])


async def shoot(tab: Tab, name: str, lang: str, tmp: Path) -> None:
    await tab.page.screenshot(path=str(shot_path(name, lang, tmp)), full_page=True)


async def test_sign_in_and_see_the_overview_with_charts(site: Any, tabs: Any, tmp_path: Path) -> None:
    gw, _ = site
    tab = await tabs(gw.root)
    await tab.go("/")
    assert "/console/login" in tab.page.url
    await sign_in(tab, "ada")
    await tab.page.wait_for_selector("[data-chart=requests] canvas")
    assert await tab.page.locator("[data-testid=who]").inner_text() == "ada · admin"
    tab.assert_clean()


async def test_add_a_channel_and_test_it(site: Any, tabs: Any, tmp_path: Path) -> None:
    gw, fake = site
    tab = await tabs(gw.root)
    await sign_in(tab, "ada")
    await tab.go("/console/channels")
    page = tab.page
    await page.fill("#add input[name=name]", "backup")
    await page.fill("#add input[name=base_url]", fake.base_url)
    await page.fill("#add textarea[name=secrets]", "sk-upstream-backup-secret-0002")
    await page.fill("#add textarea[name=models]", "demo-chat")
    await page.click("#add button[type=submit]")
    await page.wait_for_selector("[data-testid=created]")
    await page.click("[data-testid=test-backup]")
    await page.wait_for_selector("[data-testid=test-ok]")
    assert "sk-upstream-backup-secret-0002" not in await page.content()
    await tab.go("/console/channels")
    tab.assert_clean()


async def test_switch_the_language_and_it_is_remembered(site: Any, tabs: Any, tmp_path: Path) -> None:
    gw, _ = site
    tab = await tabs(gw.root)
    await sign_in(tab, "ada")
    await tab.page.click("[data-lang-switch=zh-CN]")
    await tab.page.wait_for_load_state("networkidle")
    assert await tab.page.locator("nav.main a.active").inner_text() == "概览"
    await tab.go("/console/channels")
    assert "添加渠道" in await tab.page.content()
    await tab.page.wait_for_selector("text=渠道")
    await tab.go("/console/")
    await tab.page.wait_for_selector("[data-chart=requests] canvas")
    tab.assert_clean()


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
async def test_create_a_key_and_see_the_secret_once(site: Any, tabs: Any, tmp_path: Path, lang: str) -> None:
    gw, _ = site
    tab = await tabs(gw.root, lang)
    await sign_in(tab, "ada")
    await tab.go("/console/keys")
    page = tab.page
    name = f"ci bot {lang}"
    await page.fill("#create input[name=name]", name)
    await page.select_option("#create select[name=owner]", label="acme")
    await page.click("#create button[type=submit]")
    secret = (await page.locator("[data-testid=secret]").inner_text()).strip()
    assert secret.startswith("sk-") and len(secret) > 40
    await page.click("[data-testid=copy-secret]")
    assert await page.evaluate("navigator.clipboard.readText()") == secret
    assert secret in await page.locator("#snippet-python-sdk").inner_text()
    await shoot(tab, "key-created", lang, tmp_path)
    await tab.go(f"/console/keys?q={name.replace(' ', '+')}")
    assert secret not in await page.content()  # never again
    await page.click("text=key_")
    assert secret not in await page.content()
    async with aiohttp.ClientSession() as s:  # and the key works
        async with s.post(gw.base_url + "/chat/completions", headers={"Authorization": f"Bearer {secret}"},
                          json={"model": "demo-chat", "messages": [{"role": "user", "content": "hi"}]}) as resp:
            assert resp.status == 200
    tab.assert_clean()


async def test_top_up_and_read_the_statement(site: Any, tabs: Any, tmp_path: Path) -> None:
    gw, _ = site
    tab = await tabs(gw.root)
    await sign_in(tab, "ada")
    await tab.go("/console/balances")
    page = tab.page
    await page.click("text=acme")
    await page.fill("#change input[name=amount]", "25.50")
    await page.fill("#change input[name=reason]", "invoice 2026-117 paid")
    await page.click("#change button[type=submit]")
    assert "$25.50" in await page.locator("[data-testid=confirm-text]").inner_text()
    await page.click("[data-testid=confirm]")
    await page.wait_for_selector("[data-testid=done]")
    movements = await page.locator("[data-testid=movement]").all_inner_texts()
    assert any("invoice 2026-117 paid" in m and "$25.50" in m for m in movements)
    async with page.expect_download() as dl:
        await page.click("[data-testid=csv]")
    csv_text = await asyncio.to_thread(Path(await (await dl.value).path()).read_text)
    assert "25.5,invoice 2026-117 paid,console:ada" in csv_text
    tab.assert_clean()


async def test_find_a_failed_request_and_copy_the_drafted_reply(site: Any, tabs: Any, tmp_path: Path) -> None:
    gw, _ = site
    failed = [r for r in await gw.usage_rows() if r["status"] >= 400]
    rid = failed[0]["request_id"]
    tab = await tabs(gw.root)
    await sign_in(tab, "sam")  # support
    await tab.go("/console/usage?errors=1")
    page = tab.page
    await page.click(f"text={rid}")
    await page.wait_for_selector("[data-testid=attempts]")
    await page.click("[data-testid=diagnose]")
    await page.select_option("select[name=reply]", "en")
    await page.click("[data-testid=diagnose-form] button[type=submit]")
    await page.wait_for_selector("[data-testid=reply]")
    reply = await page.locator("[data-testid=reply]").inner_text()
    assert rid in reply or "no-such-model" in reply
    await page.click("[data-testid=copy-reply]")
    assert (await page.evaluate("navigator.clipboard.readText()")).strip() == reply.strip()
    tab.assert_clean()


async def test_a_support_user_is_refused_a_top_up(site: Any, tabs: Any) -> None:
    gw, _ = site
    tab = await tabs(gw.root)
    await sign_in(tab, "sam")
    owner = (await gw.gateway.accounts.list_owners())[0]
    await tab.go(f"/console/balances/{owner['id']}")
    assert await tab.page.locator("#change").count() == 0  # no form offered
    # and the server refuses the request a hand-made form would send
    csrf = await tab.page.evaluate("document.querySelector('input[name=csrf]').value")
    resp = await tab.page.request.post(f"{gw.root}/console/balances/{owner['id']}/change",
                                       form={"csrf": csrf, "kind": "topup", "amount": "100", "reason": "x",
                                             "confirmed": "1"})
    assert resp.status == 403
    tab.assert_clean()


async def test_switch_and_roll_back_a_batch(site: Any, tabs: Any, tmp_path: Path) -> None:
    gw, _ = site
    tab = await tabs(gw.root)
    await sign_in(tab, "ada")
    await tab.go("/console/rollout")
    page = tab.page
    assert await page.locator("[data-testid=state-pilot]").inner_text() == "planned"
    await page.click("text=pilot")
    form = page.locator("[data-testid=move-switch]")
    await form.locator("input[name=reason]").fill("pilot group ready")
    await form.locator("input[name=confirm]").check()
    await form.locator("button[type=submit]").click()
    await page.wait_for_selector("[data-testid=done]")
    assert await page.locator("[data-testid=state]").inner_text() == "switched"
    assert "built-in method" not in await page.content()
    form = page.locator("[data-testid=move-rollback]")
    await form.locator("input[name=reason]").fill("errors from pilot users")
    await form.locator("input[name=confirm]").check()
    await form.locator("button[type=submit]").click()
    await page.wait_for_selector("[data-testid=done]")
    assert await page.locator("[data-testid=state]").inner_text() == "rolled back"
    history = await page.locator("[data-testid=history]").inner_text()
    assert "console:ada" in history and "errors from pilot users" in history
    tab.assert_clean()


async def test_plan_a_batch_and_settle_a_dispute(site: Any, tabs: Any) -> None:
    """`rollout plan` and `rollout dispute add / resolve`, from the rollout page."""
    gw, _ = site
    tab = await tabs(gw.root)
    await sign_in(tab, "ada")
    await tab.go("/console/rollout")
    page = tab.page
    form = page.locator("[data-testid=plan-form]")
    await form.locator("input[name=name]").fill("wave-2")
    await form.locator("input[name=owners]").fill("acme")
    await form.locator("input[name=rollback_window]").fill("3d")
    await form.locator("input[name=conditions]").fill("5xx>+2%, 429>3x")
    await form.locator("button[type=submit]").click()
    await page.wait_for_selector("[data-testid=done]")
    assert await page.locator("[data-testid=state]").inner_text() == "planned"
    await tab.go("/console/rollout")
    form = page.locator("[data-testid=dispute-form]")
    await form.locator("input[name=owner]").fill("acme")
    await form.locator("select[name=batch]").select_option("wave-2")
    await form.locator("input[name=note]").fill("balance 3.20 short after the move")
    await form.locator("button[type=submit]").click()
    await page.wait_for_load_state("networkidle")
    assert "balance 3.20 short" in await page.locator("[data-testid=disputes]").inner_text()
    settle = page.locator("[data-testid^=resolve-]").first
    await settle.locator("input[name=resolution]").fill("credited 3.20")
    await settle.locator("input[name=confirm]").check()
    await settle.locator("button[type=submit]").click()
    await page.wait_for_load_state("networkidle")
    assert "credited 3.20 (console:ada)" in await page.locator("[data-testid=disputes]").inner_text()
    tab.assert_clean()


async def test_take_an_inventory_read_the_mapping_and_preview_a_notice(site: Any, tabs: Any) -> None:
    gw, _ = site
    tab = await tabs(gw.root)
    await sign_in(tab, "ada")
    await tab.go("/console/migration")
    page = tab.page
    row = page.locator("[data-testid=mapping-rows] tr[data-model=m]")
    assert "passed" in await row.inner_text()  # migrate verify's result for the model
    await page.click("[data-testid=take-inventory] button")
    await page.wait_for_selector("[data-testid=inventory-done]", timeout=30_000)  # htmx polls the progress
    await tab.go("/console/migration")
    await page.click("#inventory summary")
    assert "alice" in await page.locator("#inventory .report").inner_text()
    await tab.go("/console/migration/notices")
    await page.select_option("select[name=lang]", "zh-CN")
    await page.select_option("select[name=doc]", "emails/cursor.md")
    await page.click("[data-testid=notice-form] button[type=submit]")
    await page.wait_for_load_state("networkidle")
    preview = await page.locator("[data-testid=notice-preview]").inner_text()
    assert "Cursor" in preview and "Override OpenAI Base URL" in preview
    await page.click("[data-testid=copy-notice]")
    copied = await page.evaluate("navigator.clipboard.readText()")
    assert copied == await page.locator("#notice-md").input_value() and copied.startswith("#")
    async with page.expect_download() as dl:
        await page.click("[data-testid=notices-zip]")
    assert (await dl.value).suggested_filename == "notices-zh-CN.zip"
    tab.assert_clean()


async def test_every_page_in_both_languages_has_no_browser_errors(site: Any, tabs: Any,
                                                                 tmp_path: Path) -> None:
    gw, _ = site
    owner = (await gw.gateway.accounts.list_owners())[0]
    key = (await gw.gateway.accounts.list_keys())[0]
    channel = (await gw.gateway.routing.list_channels())[0]
    rid = (await gw.usage_rows())[0]["request_id"]
    pages = {"overview": "/console/", "channels": "/console/channels", "channel": f"/console/channels/{channel['id']}",
             "models": "/console/models", "owners": "/console/owners",
             "keys": "/console/keys", "key": f"/console/keys/{key['id']}", "balances": "/console/balances",
             "statement": f"/console/balances/{owner['id']}", "usage": "/console/usage?errors=1",
             "request": f"/console/requests/{rid}", "support": f"/console/support?q={rid}&reply=LANG",
             "rollout": "/console/rollout", "batch": "/console/rollout/pilot",
             "rollout-report": "/console/rollout/report", "migration": "/console/migration",
             "notices": "/console/migration/notices?doc=emails/cherry-studio.md",
             "audit": "/console/audit", "team": "/console/team"}
    for lang in ("en", "zh-CN"):
        tab = await tabs(gw.root, lang)
        await tab.go("/console/login")
        await shoot(tab, "login", lang, tmp_path)
        await sign_in(tab, "ada")
        for name, path in pages.items():
            await tab.go(path.replace("LANG", lang))
            assert await tab.page.locator("html").get_attribute("lang") == lang
            assert "built-in method" not in await tab.page.content(), path  # a dict method, not a value
            if name == "overview":
                await tab.page.wait_for_selector("[data-chart=requests] canvas")
            await shoot(tab, name, lang, tmp_path)
        tab.assert_clean()
        await tab.page.context.close()


async def test_the_navigation_fits_on_one_line_at_1280_px(site: Any, tabs: Any) -> None:
    """Every link of the widest navigation (an admin's) on one line, nothing wider than the window."""
    gw, _ = site
    for lang in ("en", "zh-CN"):
        tab = await tabs(gw.root, lang)
        await sign_in(tab, "ada")
        await tab.go("/console/keys")
        tops = await tab.page.eval_on_selector_all("nav.main a",
                                                   "links => links.map(a => a.getBoundingClientRect().top)")
        assert len(tops) >= 12 and len(set(tops)) == 1, f"{lang}: the navigation wraps ({sorted(set(tops))})"
        nav = await tab.page.eval_on_selector("nav.main", "n => [n.scrollWidth, n.clientWidth]")
        assert nav[0] <= nav[1], f"{lang}: the navigation overflows ({nav})"
        header = await tab.page.eval_on_selector(
            "header.top", "h => [...h.querySelectorAll('a, span, button')].map(e => e.getBoundingClientRect().right)")
        assert max(header) <= 1280, f"{lang}: the header runs past the window ({max(header)})"
        assert await tab.page.evaluate("document.documentElement.scrollWidth") <= 1280


# Latin words a zh-CN page may show: product and client names, protocols, units, codes, the test's own data.
# Not read: the migration documents (.report: the inventory and import reports `relaygate migrate` writes,
# shown as they are; their headings follow the page's language, their body text is English, see docs/console.md)
LATIN_OK = {
    "relaygate", "openai", "one", "api", "new", "anthropic", "claude", "code", "cursor", "cherry", "studio", "codex",
    "cli", "gemini", "kling", "sora", "node", "python", "sdk", "http", "https", "url", "base", "json", "csv", "md",
    "markdown", "zip", "token", "tokens", "key", "id", "ids", "sso", "oidc", "html", "usd", "cny", "ms", "utc",
    "sk", "acme", "globex", "demo", "chat", "web", "imported", "primary", "backup", "bot", "ci", "default",
    "production", "staging", "development", "pilot", "ops", "alice", "bob", "pat", "aiohttp", "p50", "p95",
    "get", "post", "bearer", "authorization", "yaml", "sqlite", "email", "ok", "rpm", "tpm", "webhook", "mini",
    "gpt", "unix", "admin", "support", "viewer", "lobechat", "chatbox", "ttft", "rollout", "guard", "uplot",
    "english", "ada", "sam", "vic", "carol", "dave", "root", "no", "such", "model", "sonnet", "vip", "svip", "azure",
    "midjourney", "responses", "vertex", "oneapi", "qwen", "opencode", "curl", "ip", "host", "wiki", "iso",
    "override",  # Cursor's own setting is called "Override OpenAI Base URL"
}


async def test_every_page_in_chinese_has_no_untranslated_english(site: Any, tabs: Any) -> None:
    """Every console page and every portal page in zh-CN: no English word outside LATIN_OK (identifiers, masked
    keys, URLs, code and configuration blocks are not prose and are skipped)."""
    gw, _ = site
    from relaygate.services.operate.portal_users import PortalUsers

    owner = next(o for o in await gw.gateway.accounts.list_owners() if o["name"] == "acme")
    key = next(k for k in await gw.gateway.accounts.list_keys() if k["owner_id"] == owner["id"])
    channel = (await gw.gateway.routing.list_channels())[0]
    rid = next(r["request_id"] for r in await gw.usage_rows() if r["key_id"] == key["id"])
    if not any(u["username"] == "pat" for u in await PortalUsers(gw.gateway.engine).list()):
        await PortalUsers(gw.gateway.engine).add("pat", owner["id"], "pat-password-1")
    console = ["/console/", "/console/channels", f"/console/channels/{channel['id']}", "/console/models",
               "/console/owners", "/console/keys", f"/console/keys/{key['id']}", "/console/balances",
               f"/console/balances/{owner['id']}", "/console/usage?errors=1", f"/console/requests/{rid}",
               f"/console/support?q={rid}&reply=zh-CN", "/console/support", "/console/tasks", "/console/rollout",
               "/console/rollout/pilot", "/console/rollout/report", "/console/migration",
               "/console/migration/notices?doc=emails/cherry-studio.md", "/console/audit", "/console/team",
               "/console/holders"]
    portal = ["/portal/", "/portal/keys", "/portal/requests", f"/portal/requests/{rid}", "/portal/setup",
              "/portal/setup?client=claude-code", "/portal/account", "/portal/redeem"]
    rollout = gw.gateway.rollout
    assert rollout is not None
    if not any(b["state"] in ("switched", "observing") for b in await rollout.planner.status()):
        await rollout.planner.plan("zh_pages", "test", owners=["carol"], conditions=["5xx>+2%"])
        await rollout.mover.switch("zh_pages", "test", "a batch for the guard to judge", handover=False)
    await rollout.guard.evaluate_all()  # the guard's verdicts (a background task's) are on the rollout pages too
    assert await rollout.guard.verdicts(), "no batch for the guard to judge: the verdict texts would go unchecked"
    found: dict[str, set[str]] = {}
    tab = await tabs(gw.root, "zh-CN")
    await tab.go("/console/login")
    found["/console/login"] = await english_words(tab)
    await sign_in(tab, "ada")
    for path in console:
        await tab.go(path)
        if path == "/console/":
            await tab.page.wait_for_selector("[data-chart=requests] .u-legend")
        if path == "/console/migration":  # an inventory's progress steps, as they show while it runs
            await tab.page.click("[data-testid=take-inventory] button")
            await tab.page.wait_for_selector("[data-testid=inventory-done]", timeout=30_000)
            assert await tab.page.locator("[data-testid=step-users]").inner_text() == "用户"
        found[path] = await english_words(tab)
    holder = await tabs(gw.root, "zh-CN")
    await holder.go("/portal/login")
    found["/portal/login"] = await english_words(holder)
    await holder.page.fill("input[name=name]", "pat")
    await holder.page.fill("input[name=password]", "pat-password-1")
    await holder.page.click("form[action='/portal/login'] button[type=submit]")
    await holder.page.wait_for_load_state("networkidle")
    for path in portal:
        await holder.go(path)
        found[path] = await english_words(holder)
    left = {path: sorted(words) for path, words in found.items() if words}
    assert not left, f"English words on zh-CN pages: {left}"


VISIBLE_TEXT = """() => {
  // not prose: code, identifiers, documents shown as they are, inputs that take a code, what users typed
  const skip = 'script, style, code, pre, textarea, .mono, .report, [data-code], [data-user-text]';
  const out = [];
  const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walk.nextNode()) {
    const el = walk.currentNode.parentElement;
    if (!el || el.closest(skip)) continue;
    out.push(walk.currentNode.textContent);
  }
  for (const el of document.querySelectorAll('[placeholder], [title], [aria-label]')) {
    if (el.closest(skip)) continue;
    for (const a of ['placeholder', 'title', 'aria-label']) if (el.getAttribute(a)) out.push(el.getAttribute(a));
  }
  out.push(document.title);
  return out.join('\\n');
}"""


async def english_words(tab: Any) -> set[str]:
    """Each English word left on the page, with the line it stands in (for the failure message)."""
    import re

    found = set()
    codes = await tab.page.evaluate(  # a column or row heading left as a field's code (upstream_model)
        "[...document.querySelectorAll('th')].filter(t => !t.closest('.report'))"
        ".map(t => t.textContent.trim()).filter(x => /^[a-z]+(_[a-z]+)+$/.test(x))")  # .report: see LATIN_OK's note
    found |= {f"{code} «a heading»" for code in codes}
    for line in (await tab.page.evaluate(VISIBLE_TEXT)).splitlines():
        prose = re.sub(r"`[^`]*`|<[^>]*>|\bX-[\w-]+|\S*://\S*|[\w.-]*/[\w./-]+|\S+@\S+|\S*=\S*|\S*\d\S*|\S*_\S*|"
                       r"\S*…\S*|\w+[.:]\w\S*", " ", line)  # commands, headers, URLs, paths, ids, amounts, masked keys
        for word in re.findall(r"[A-Za-z][A-Za-z'’-]*[A-Za-z]", prose):
            if not all(part.lower() in LATIN_OK for part in re.split(r"[-'’]", word)):
                found.add(f"{word} «{line.strip()[:80]}»")
    return found
