"""OpenID Connect sign-in, driven by Debian's Chromium against a fake provider on a real socket: a verified
e-mail links the identity to its portal account; another issuer, another audience, an expired token, a wrong
nonce, a forged signature and a changed state are all refused without a session; a rotated key is learnt."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from relaygate.core.settings import Settings
from relaygate.services.operate.mail import Mailer
from relaygate.services.operate.oidc import OidcRefused
from relaygate.services.operate.portal_accounts import PortalAccounts
from relaygate.services.operate.portal_sso import sso_principal
from tests.console.browser import Tab, open_tab
from tests.console.conftest import needs_browser
from tests.console.fakeoidc import FakeOidc
from tests.harness import Running, running_gateway


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("portal-oidc")
    idp = await FakeOidc().start()
    async with running_gateway(f"sqlite+aiosqlite:///{tmp}/relaygate.db", data_dir=str(tmp),
                               **idp.settings()) as gw:
        await gw.add_key("lin team", name="lin laptop")
        await gw.gateway.portal.users.add("lin", "lin team", "lin-password-1",  # type: ignore[union-attr]
                                          email="lin@example.com")
        yield {"gw": gw, "idp": idp, "tmp": tmp}
    await idp.stop()


async def sso(tab: Tab) -> str:
    await tab.page.goto(tab.root + "/portal/login", wait_until="load")
    await tab.page.click("[data-testid=sso]")
    await tab.page.wait_for_url(lambda u: "/portal/sso/callback" in u or u.rstrip("/").endswith("/portal"),
                                wait_until="load")
    return str(tab.page.url)


@needs_browser
@pytest.mark.asyncio(loop_scope="module")
async def test_single_sign_on_in_a_real_browser(site: dict[str, Any], chromium: Any) -> None:
    gw: Running = site["gw"]
    idp: FakeOidc = site["idp"]
    tab = await open_tab(chromium, gw.root)
    for mode, reason in (("bad_iss", "bad_iss"), ("bad_aud", "bad_aud"), ("expired", "bad_exp"),
                         ("bad_nonce", "bad_nonce"), ("bad_signature", "bad_signature"), ("bad_state", "state")):
        idp.mode = mode
        await sso(tab)
        assert reason in await tab.page.locator("[data-testid=login-error]").inner_text(), mode
        await tab.page.goto(gw.root + "/portal/", wait_until="load")
        assert "/portal/login" in tab.page.url, mode  # no session
    await tab.page.context.close()
    idp.mode = "ok"
    tab = await open_tab(chromium, gw.root)
    await sso(tab)
    assert tab.page.url.rstrip("/").endswith("/portal"), tab.page.url
    assert "lin" in await tab.page.locator("[data-testid=who]").inner_text()  # linked by the verified e-mail
    user = await gw.gateway.portal.users.get("lin")  # type: ignore[union-attr]
    assert user["sso"] and user["email_verified"]
    await tab.page.context.close()
    idp.rotate()  # the provider's new key: fetched once more, sign-in goes on working
    tab = await open_tab(chromium, gw.root, "zh-CN")
    await sso(tab)
    assert "lin" in await tab.page.locator("[data-testid=who]").inner_text()
    tab.assert_clean()
    await tab.page.context.close()
    idp.user = {"sub": "u-2", "email": "stranger@example.com", "email_verified": True}  # no account here
    tab = await open_tab(chromium, gw.root)
    await sso(tab)
    assert "no account" in await tab.page.locator("[data-testid=login-error]").inner_text()
    await tab.page.context.close()
    idp.user = {"sub": "u-1", "email": "lin@example.com", "email_verified": True}


async def test_new_users_follow_the_setting_and_unverified_addresses_never_link(tmp_path: Any, sqlite_url: str) -> None:
    from relaygate.services.operate.accounts import AccountsAdmin
    from relaygate.services.operate.portal_users import PortalUsers
    from relaygate.store.db import make_engine, upgrade

    engine = make_engine(sqlite_url)
    await upgrade(engine)
    try:
        await AccountsAdmin(engine).create_owner("staff")
        await PortalUsers(engine).add("mo", "staff", "mo-password-1", email="mo@example.com")
        claims = {"iss": "https://idp.example", "sub": "s-9", "email": "mo@example.com", "email_verified": False,
                  "preferred_username": "mo"}
        for new_users, expected in (("", None), ("staff", "staff"), ("own", "own")):
            cfg = Settings(database_url=sqlite_url, data_dir=str(tmp_path), oidc_new_users=new_users)
            accounts = PortalAccounts(engine, cfg, Mailer(cfg))
            if expected is None:
                with pytest.raises(OidcRefused) as refused:
                    await sso_principal(engine, cfg, accounts, claims)  # an unverified address links nothing
                assert refused.value.reason == "no_account"
                continue
            made = await sso_principal(engine, cfg, accounts, {**claims, "sub": f"s-{new_users}"})
            user = await PortalUsers(engine).get(made.id)
            assert user["username"] != "mo" and user["sso"] and user["source"] == "oidc"
            owners = {o["id"]: o["name"] for o in await AccountsAdmin(engine).list_owners()}
            assert (owners[user["owner_id"]] == "staff") == (expected == "staff")
            again = await sso_principal(engine, cfg, accounts, {**claims, "sub": f"s-{new_users}"})
            assert again.id == made.id  # the same identity, the same account
    finally:
        await engine.dispose()
