"""The key holder's portal: sign in with the One API password, read the statement, redeem a code, set up a
client; never another owner's data; a disabled user or an expired session sees nothing.

The browser test drives Debian's Chromium; with RELAYGATE_CONSOLE_SCREENSHOTS=docs/portal the run refreshes
the screenshots docs/portal.md shows."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import bcrypt
import pytest
import pytest_asyncio
from sqlalchemy import update

from relaygate.core.money import parse_amount
from relaygate.services.operate.codes import RedemptionCodes
from relaygate.services.operate.portal_users import PortalUsers
from relaygate.store import tables as t
from tests.console.browser import Tab, open_tab
from tests.console.conftest import needs_browser, shot_path
from tests.console.helpers import Browser, hidden
from tests.console.mailbox import Mailbox
from tests.harness import Running, running_gateway, start_fake

OLD_PASSWORD = "my-one-api-password"
PORTAL_SHOTS = "docs/portal"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("portal")
    fake = await start_fake()
    mailbox = await Mailbox().start()  # the reset form shows only when the gateway can send e-mail
    async with running_gateway(f"sqlite+aiosqlite:///{tmp}/relaygate.db", data_dir=str(tmp), portal_signup="open",
                               oidc_issuer="https://sso.example.com", oidc_client_id="relaygate",
                               oidc_label="Company SSO", media_allow_hosts="127.0.0.1",
                               **mailbox.settings()) as gw:
        await gw.add_channel(fake, "primary", ["demo-chat"])
        await gw.gateway.pricing.set_price("demo-chat", input_per_m="2", output_per_m="8")
        alice_secret, alice_key = await gw.add_key("alice", name="alice laptop")
        bob_secret, _ = await gw.add_key("bob", name="bob ci")
        for owner in ("alice", "bob"):
            await gw.gateway.ledger.record(owner, "topup", parse_amount("5"), "invoice 2026-11", "tests")
        await gw.gateway.balance_sync.apply_credits()
        async with aiohttp.ClientSession() as s:
            for secret in (alice_secret, bob_secret):
                await s.post(gw.base_url + "/chat/completions", headers={"Authorization": f"Bearer {secret}"},
                             json={"model": "demo-chat", "messages": [{"role": "user", "content": "hi"}]})
            async with s.get(gw.root + "/console/static/console.css") as resp:  # static files' first use, warm
                assert resp.status == 200
        await gw.gateway.usage.flush()
        users = PortalUsers(gw.gateway.engine)
        one_api_hash = bcrypt.hashpw(OLD_PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode().replace("$2b$", "$2a$")
        await users.import_hashed("alice", "alice", one_api_hash, "oneapi")  # as One API stored it
        await users.add("bob", "bob", "bob-password-1")
        await gw.gateway.portal.self_keys.set_policy("alice", "tests", self_keys=True, max_keys=3,  # type: ignore[union-attr]
                                                     max_cap_daily="5", max_days=90)
        rows = await gw.usage_rows()
        yield {"gw": gw, "fake": fake, "users": users, "alice_key": alice_key, "tmp": tmp,
               "alice_rid": next(r["request_id"] for r in rows if r["key_id"] == alice_key),
               "bob_rid": next(r["request_id"] for r in rows if r["key_id"] != alice_key)}
    await fake.stop()
    await mailbox.stop()


async def portal_sign_in(b: Browser, name: str, password: str) -> aiohttp.ClientResponse:
    async with b.session.get(b.url("/portal/login")) as resp:
        pre = hidden(await resp.text(), "pre")
    return await b.session.post(b.url("/portal/login"), data={"pre": pre, "name": name, "password": password,
                                                              "next": "/portal/"})


@pytest.mark.asyncio(loop_scope="module")
async def test_another_users_records_and_operator_pages_are_refused(site: dict[str, Any]) -> None:
    gw: Running = site["gw"]
    async with Browser(gw) as b:
        resp = await portal_sign_in(b, "bob", "bob-password-1")
        assert resp.status == 200 and "bob" in await resp.text()
        assert (await b.get(f"/portal/requests/{site['bob_rid']}"))[0] == 200
        status, body = await b.get(f"/portal/requests/{site['alice_rid']}")  # copied from alice
        assert status == 404 and "alice laptop" not in body  # the id finds nothing, as an unknown one
        status, body = await b.get("/portal/requests")
        assert site["alice_rid"] not in body and site["bob_rid"] in body
        status, body = await b.get("/portal/keys")
        assert site["alice_key"] not in body
        for path in ("/console/", "/console/keys", "/console/balances", "/console/usage"):
            assert (await b.get(path))[0] == 403, path  # a key holder is no operator
        assert (await b.post("/console/balances/alice/change", {"kind": "topup", "amount": "100",
                                                                 "reason": "x"}))[0] == 403


@pytest.mark.asyncio(loop_scope="module")
async def test_the_operators_sign_in_page_leads_key_holders_to_theirs(site: dict[str, Any]) -> None:
    gw: Running = site["gw"]
    async with Browser(gw) as b:
        for lang, words in (("en", "Sign in to your account here"), ("zh-CN", "请在这里登录你的账户")):
            status, html = await b.get("/console/login", headers={"Accept-Language": lang})
            assert status == 200 and 'href="/portal/login" data-testid="to-portal"' in html and words in html
        resp = await portal_sign_in(b, "alice", OLD_PASSWORD)  # the same host and port as the operators'
        assert resp.status == 200 and str(resp.url).startswith(gw.root + "/portal/")


@pytest.mark.asyncio(loop_scope="module")
async def test_wrong_password_disabled_user_and_ended_session(site: dict[str, Any]) -> None:
    gw: Running = site["gw"]
    async with Browser(gw) as b:
        assert (await portal_sign_in(b, "alice", "wrong password")).status == 401
        assert (await portal_sign_in(b, "nobody", "whatever-pw")).status == 401
        assert (await portal_sign_in(b, "alice", OLD_PASSWORD)).status == 200
        assert (await b.get("/portal/"))[0] == 200
        await site["users"].disable("alice")
        status, _ = await b.get("/portal/", allow_redirects=False)
        assert status == 303  # the session ended with the account
        await site["users"].enable("alice")
    async with Browser(gw) as b:
        await portal_sign_in(b, "bob", "bob-password-1")
        async with gw.gateway.engine.begin() as conn:
            await conn.execute(update(t.web_sessions).values(expires_at=1))
        assert (await b.get("/portal/", allow_redirects=False))[0] == 303


@needs_browser
@pytest.mark.asyncio(loop_scope="module")
async def test_a_key_holder_in_a_real_browser(site: dict[str, Any], chromium: Any) -> None:
    gw: Running = site["gw"]
    batch = await RedemptionCodes(gw.gateway.engine, "USD").create_batch("welcome", parse_amount("2"), 1, None,
                                                                          "tests")
    shots = Path(PORTAL_SHOTS) if _refresh() else site["tmp"]
    accounts = gw.gateway.portal.accounts  # type: ignore[union-attr]
    for lang in ("en", "zh-CN"):
        tab: Tab = await open_tab(chromium, gw.root, lang)
        for name in ("signup", "forgot"):  # the doors, before signing in
            await tab.go(f"/portal/{name}")
            await tab.page.screenshot(path=str(shots / f"{name}-{lang}.png"), full_page=True)
        invite = await accounts.invite(owner="alice", actor="tests", username=f"ally-{lang}", base=gw.root)
        await tab.go(invite["link"].replace(gw.root, ""))
        await tab.page.screenshot(path=str(shots / f"invite-{lang}.png"), full_page=True)
        reset = await accounts.reset_link("bob", "tests", gw.root)
        await tab.go(reset["link"].replace(gw.root, ""))
        await tab.page.screenshot(path=str(shots / f"reset-{lang}.png"), full_page=True)
        await tab.go("/portal/login")
        await tab.page.screenshot(path=str(shots / f"login-{lang}.png"), full_page=True)
        await tab.page.fill("input[name=name]", "alice")
        await tab.page.fill("input[name=password]", OLD_PASSWORD)  # the password from One API
        await tab.page.click("form[action='/portal/login'] button[type=submit]")
        await tab.page.wait_for_load_state("networkidle")
        assert await tab.page.locator("[data-testid=statement]").count() == 1
        assert "invoice 2026-11" in await tab.page.locator("[data-testid=statement]").inner_text()
        await tab.page.screenshot(path=str(shots / f"home-{lang}.png"), full_page=True)
        if lang == "en":
            await tab.go("/portal/redeem")
            await tab.page.fill("input[name=code]", batch["codes"][0])
            await tab.page.click("form[action='/portal/redeem'] button[type=submit]")
            await tab.page.wait_for_load_state("networkidle")
            assert "$2.00" in await tab.page.locator("[data-testid=done]").inner_text()
        await tab.go("/portal/redeem")
        await tab.page.screenshot(path=str(shots / f"redeem-{lang}.png"), full_page=True)
        await tab.go("/portal/setup?client=claude-code")
        assert await tab.page.locator("[data-testid=base-url]").inner_text() == gw.root
        await tab.page.screenshot(path=str(shots / f"setup-{lang}.png"), full_page=True)
        await tab.go("/portal/requests")
        await tab.page.screenshot(path=str(shots / f"requests-{lang}.png"), full_page=True)
        await tab.page.click(f"text={site['alice_rid']}")
        await tab.page.wait_for_load_state("networkidle")
        assert site["alice_rid"] in await tab.page.locator("[data-testid=ticket]").inner_text()
        await tab.page.screenshot(path=str(shots / f"request-{lang}.png"), full_page=True)
        await tab.go("/portal/keys")  # create a key: its secret once, within the owner's bounds
        await tab.page.fill("[data-testid=create-key] input[name=name]", f"notebook {lang}")
        await tab.page.click("[data-testid=create-key-submit]")
        await tab.page.wait_for_load_state("networkidle")
        secret = await tab.page.locator("[data-testid=secret]").inner_text()
        listed = await tab.page.locator("[data-testid=keys]").inner_text()
        assert secret.startswith("sk-") and f"notebook {lang}" in listed
        await tab.page.screenshot(path=str(shots / f"keys-{lang}.png"), full_page=True)
        async with aiohttp.ClientSession() as s, s.get(gw.base_url + "/models",
                                                       headers={"Authorization": f"Bearer {secret}"}) as resp:
            assert resp.status == 200  # it works at once
        await tab.go("/portal/keys")
        assert secret not in await tab.page.content()  # never shown again
        await tab.go("/portal/account")
        await tab.page.fill("[data-testid=notice] input[name=threshold]", "1.5")
        await tab.page.fill("[data-testid=notice] input[name=webhook_url]", "http://127.0.0.1:9/relaygate-hook")
        await tab.page.click("[data-testid=notice] button[type=submit]")
        await tab.page.wait_for_load_state("networkidle")
        assert await tab.page.locator("[data-testid=notice-state]").count() == 1
        await tab.page.screenshot(path=str(shots / f"account-{lang}.png"), full_page=True)
        tab.assert_clean()
        await tab.page.context.close()
    for lang in ("en", "zh-CN"):
        tab = await open_tab(chromium, gw.root, lang)  # a second user, with a record id copied from the first
        await tab.go("/portal/login")
        await tab.page.fill("input[name=name]", "bob")
        await tab.page.fill("input[name=password]", "bob-password-1")
        await tab.page.click("form[action='/portal/login'] button[type=submit]")
        await tab.page.wait_for_load_state("networkidle")
        response = await tab.page.goto(f"{gw.root}/portal/requests/{site['alice_rid']}")
        assert response is not None and response.status == 404
        assert "alice laptop" not in await tab.page.content()
        await tab.page.screenshot(path=str(shots / f"refused-{lang}.png"), full_page=True)
        await tab.page.context.close()
    await holders_page(gw, chromium, shots)
    async with Browser(gw) as b:
        await portal_sign_in(b, "alice", OLD_PASSWORD)
        _, home = await b.get("/portal/")
        assert "redeemed code" in home and "welcome" in home  # the redemption, with its batch, on the statement


async def holders_page(gw: Running, chromium: Any, shots: Path) -> None:
    """The operators' side: key holders, invites and the owners' self-service policies."""
    from tests.console.browser import sign_in as console_sign_in
    from tests.console.helpers import add_operators

    await add_operators(gw)
    for lang in ("en", "zh-CN"):
        tab = await open_tab(chromium, gw.root, lang)
        await console_sign_in(tab, "ada")
        await tab.go("/console/holders")
        await tab.page.click("[data-testid=policies] [data-testid=edit-policy]:text-is('alice')")
        await tab.page.wait_for_load_state("networkidle")  # the form opened with alice's bounds
        assert await tab.page.input_value("[data-testid=policy-form] input[name=max_keys]") == "3"
        assert await tab.page.input_value("[data-testid=policy-form] input[name=max_cap_daily]") == "5"
        await tab.go("/console/holders")
        await tab.page.fill("[data-testid=invite-form] input[name=email]", "new.person@example.com")
        await tab.page.click("[data-testid=invite-form] button[type=submit]")
        await tab.page.wait_for_load_state("networkidle")
        assert "/portal/invite/rgi_" in await tab.page.locator("[data-testid=invite-link]").inner_text()
        assert "alice" in await tab.page.locator("[data-testid=policies]").inner_text()
        await tab.page.screenshot(path=str(shots / f"holders-{lang}.png"), full_page=True)
        await tab.go("/console/codes")  # the codes key holders redeem: a batch, shown once
        await tab.page.fill("[data-testid=codes-form] input[name=name]", f"launch week {lang}")
        await tab.page.fill("[data-testid=codes-form] input[name=amount]", "10")
        await tab.page.fill("[data-testid=codes-form] input[name=count]", "3")
        await tab.page.fill("[data-testid=codes-form] input[name=expires]", "30d")
        await tab.page.click("[data-testid=codes-form] button.primary")
        await tab.page.wait_for_load_state("networkidle")
        assert len((await tab.page.locator("[data-testid=new-codes]").inner_text()).split()) == 3
        await tab.page.screenshot(path=str(shots / f"codes-{lang}.png"), full_page=True)
        tab.assert_clean()
        await tab.page.context.close()


def _refresh() -> bool:
    return os.environ.get("RELAYGATE_CONSOLE_SCREENSHOTS", "") != ""


def test_shot_path_is_shared() -> None:
    assert shot_path("x", "en", Path("/tmp")).name == "x-en.png"
