"""Every portal page and every key-holder API route, with two users of two owners: ids guessed or copied from
the other owner find nothing, a disabled user and an expired session see nothing, no session or key gets in.
The route tables below must list every route the apps serve: a new route without a row here fails."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from sqlalchemy import update

from relaygate.core.money import parse_amount
from relaygate.store import tables as t
from tests.console.helpers import Browser, hidden
from tests.harness import Running, running_gateway, start_fake

# signed-in pages: (method, path template)
SIGNED_IN = {
    ("GET", "/portal/"), ("GET", "/portal/statement.{fmt}"), ("GET", "/portal/keys"), ("POST", "/portal/keys"),
    ("POST", "/portal/keys/{key_id}/disable"), ("GET", "/portal/account"), ("POST", "/portal/account/notice"),
    ("POST", "/portal/account/password"), ("GET", "/portal/requests"), ("GET", "/portal/requests/{request_id}"),
    ("GET", "/portal/setup"), ("GET", "/portal/redeem"), ("POST", "/portal/redeem"), ("POST", "/portal/logout"),
}
OPEN = {"/portal", "/portal/login", "/portal/signup", "/portal/invite/{token}", "/portal/verify/{token}",
        "/portal/forgot", "/portal/reset/{token}", "/portal/sso/start", "/portal/sso/callback"}
# key-holder API routes taking the caller's key: (method, path template)
KEYED = {
    ("GET", "/api/user/balance"), ("GET", "/api/user/statement"), ("GET", "/api/user/keys"),
    ("POST", "/api/user/keys"), ("GET", "/api/user/keys/policy"), ("POST", "/api/user/keys/{key_id}/disable"),
    ("GET", "/api/user/requests"), ("GET", "/api/user/requests/{request_id}"), ("GET", "/api/user/setup/{client}"),
    ("POST", "/api/user/redeem"), ("GET", "/api/user/notice"), ("PUT", "/api/user/notice"),
    ("GET", "/api/user/session"), ("DELETE", "/api/user/session"), ("POST", "/api/user/password"),
}
BODIES = {"POST": {"name": "x", "code": "0" * 32, "current": "", "password": ""}, "PUT": {"threshold": None}}
KEYLESS = {("POST", "/api/user/signup"), ("POST", "/api/user/verify"), ("POST", "/api/user/password/forgot"),
           ("POST", "/api/user/password/reset"), ("POST", "/api/user/session")}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("portal-sweep")
    fake = await start_fake()
    async with running_gateway(f"sqlite+aiosqlite:///{tmp}/relaygate.db", data_dir=str(tmp)) as gw:
        await gw.add_channel(fake, "up", ["demo-chat"])
        ids: dict[str, Any] = {}
        for owner in ("alice", "bob", "carol"):
            secret, key_id = await gw.add_key(owner, name=f"{owner} laptop")
            await gw.gateway.ledger.record(owner, "topup", parse_amount("5"), f"{owner} invoice", "tests")
            await gw.gateway.portal.self_keys.set_policy(owner, "tests", self_keys=True)  # type: ignore[union-attr]
            await gw.gateway.portal.users.add(owner, owner, f"{owner}-password-1")  # type: ignore[union-attr]
            ids[owner] = {"secret": secret, "key_id": key_id}
        await gw.gateway.balance_sync.apply_credits()
        async with aiohttp.ClientSession() as s:
            for owner in ("alice", "bob"):
                await s.post(gw.base_url + "/chat/completions",
                             headers={"Authorization": f"Bearer {ids[owner]['secret']}"},
                             json={"model": "demo-chat", "messages": [{"role": "user", "content": "hi"}]})
        for row in await gw.usage_rows():
            for owner in ("alice", "bob"):
                if row["key_id"] == ids[owner]["key_id"]:
                    ids[owner]["request_id"] = row["request_id"]
        yield {"gw": gw, "ids": ids}
    await fake.stop()


def _text(html: str) -> str:
    """The page without its per-response tokens (CSRF and sign-in form values)."""
    import re

    return re.sub(r'value="[^"]*"', "", html)


def fill(path: str, ids: dict[str, Any]) -> str:
    return path.format(fmt="csv", key_id=ids["key_id"], request_id=ids["request_id"], client="claude-code")


async def sign_in(b: Browser, name: str) -> None:
    async with b.session.get(b.url("/portal/login")) as resp:
        pre = hidden(await resp.text(), "pre")
    async with b.session.post(b.url("/portal/login"), data={"pre": pre, "name": name,
                                                            "password": f"{name}-password-1"}) as resp:
        html = await resp.text()
        assert resp.status == 200, html
        b.csrf = hidden(html, "csrf")


@pytest.mark.asyncio(loop_scope="module")
async def test_the_tables_list_every_route(site: dict[str, Any]) -> None:
    from relaygate.web.api.app import build_admin_app
    from relaygate.web.console.app import build_console_app

    console = build_console_app(site["gw"].gateway)
    served = {(m, r.path) for r in console.app.routes if getattr(r, "path", "").startswith("/portal")  # type: ignore[attr-defined]
              for m in (getattr(r, "methods", None) or ()) if m != "HEAD"}
    assert {p for _, p in served} - OPEN == {p for _, p in SIGNED_IN}
    assert served - {(m, p) for m, p in served if p in OPEN} == SIGNED_IN
    api = build_admin_app(site["gw"].gateway)
    keyed = {(m, r.path) for r in api.routes if getattr(r, "path", "").startswith("/api/user/")
             for m in (getattr(r, "methods", None) or ()) if m != "HEAD"}
    assert keyed - KEYLESS == KEYED and keyed >= KEYLESS


@pytest.mark.asyncio(loop_scope="module")
async def test_every_page_refuses_no_session_a_disabled_user_and_an_expired_session(site: dict[str, Any]) -> None:
    gw: Running = site["gw"]
    alice = site["ids"]["alice"]
    async with Browser(gw) as anonymous:
        for method, path in sorted(SIGNED_IN):
            status, _ = (await anonymous.get(fill(path, alice), allow_redirects=False) if method == "GET"
                         else await anonymous.post(fill(path, alice), csrf=False, allow_redirects=False))
            assert status == (303 if method == "GET" else 401), (method, path, status)
    async with Browser(gw) as carol:
        await sign_in(carol, "carol")
        assert (await carol.get("/portal/"))[0] == 200
        await gw.gateway.portal.users.disable("carol")  # type: ignore[union-attr]
        try:
            for method, path in sorted(SIGNED_IN):
                status, _ = (await carol.get(fill(path, site["ids"]["carol"] | {"request_id": "req_x"}),
                                             allow_redirects=False) if method == "GET"
                             else await carol.post(fill(path, site["ids"]["carol"] | {"request_id": "req_x"}),
                                                   allow_redirects=False))
                assert status in (303, 401), (method, path, status)
        finally:
            await gw.gateway.portal.users.enable("carol")  # type: ignore[union-attr]
    async with Browser(gw) as bob:
        await sign_in(bob, "bob")
        async with gw.gateway.engine.begin() as conn:
            await conn.execute(update(t.web_sessions).where(t.web_sessions.c.subject_name == "bob")
                               .values(expires_at=1))
        for method, path in sorted(SIGNED_IN):
            status, _ = (await bob.get(fill(path, site["ids"]["bob"]), allow_redirects=False) if method == "GET"
                         else await bob.post(fill(path, site["ids"]["bob"]), allow_redirects=False))
            assert status in (303, 401), (method, path, status)


@pytest.mark.asyncio(loop_scope="module")
async def test_every_page_with_the_other_owners_ids_shows_nothing_of_theirs(site: dict[str, Any]) -> None:
    gw: Running = site["gw"]
    alice, bob = site["ids"]["alice"], site["ids"]["bob"]
    theirs = (alice["key_id"], alice["request_id"], "alice laptop", "alice invoice", alice["secret"])
    async with Browser(gw) as b:
        await sign_in(b, "bob")
        form = {"name": "x", "threshold": "", "code": "0" * 32, "current": "", "password": "", "password2": ""}

        async def hit(method: str, target: str) -> tuple[int, str]:
            return await (b.get(target) if method == "GET" else b.post(target, form))

        made_up = {"key_id": "key_000000000000", "request_id": "req_0000000000000000000000"}
        for method, path in sorted(SIGNED_IN - {("POST", "/portal/logout")}):
            status, body = await hit(method, fill(path, alice))  # ids copied from alice
            if "{key_id}" in path or "{request_id}" in path:
                # exactly what an id that does not exist gets (the id typed is echoed, nothing else)
                other_status, other = await hit(method, fill(path, made_up))
                assert status == other_status == 404, (method, path, status)
                for name in ("key_id", "request_id"):
                    body, other = body.replace(alice[name], "ID"), other.replace(made_up[name], "ID")
                assert _text(body) == _text(other), (method, path)
            assert not any(v in body for v in theirs), (method, path)
        async with gw.gateway.engine.connect() as conn:
            from sqlalchemy import select

            row = (await conn.execute(select(t.api_keys.c.enabled).where(t.api_keys.c.id == alice["key_id"]))).one()
        assert row.enabled  # bob's POST to alice's key changed nothing
        assert bob["request_id"] in (await b.get("/portal/requests"))[1]


@pytest.mark.asyncio(loop_scope="module")
async def test_every_key_holder_route_with_another_owners_ids_a_disabled_key_and_no_key(site: dict[str, Any]) -> None:
    gw: Running = site["gw"]
    alice, bob, carol = site["ids"]["alice"], site["ids"]["bob"], site["ids"]["carol"]
    theirs = (alice["key_id"], alice["request_id"], "alice laptop", "alice invoice", alice["secret"])
    bodies = BODIES
    async with aiohttp.ClientSession() as s:
        await gw.gateway.accounts.update_key(carol["key_id"], enabled=False)
        await gw.gateway.state.reload()
        for method, path in sorted(KEYED):
            for secret in (None, carol["secret"], "sk-guessed-key-0000000000000000"):
                headers = {"Authorization": f"Bearer {secret}"} if secret else {}
                async with s.request(method, gw.root + fill(path, alice), headers=headers,
                                     json=bodies.get(method)) as resp:
                    assert resp.status == 401, (method, path, secret and secret[:6], resp.status)
            async with s.request(method, gw.root + fill(path, alice), json=bodies.get(method),
                                 headers={"Authorization": f"Bearer {bob['secret']}"}) as resp:
                text = await resp.text()
                assert resp.status < 500, (method, path)
                if "{key_id}" in path or "{request_id}" in path:
                    assert resp.status == 404, (method, path, resp.status)
                    text = text.replace(alice["key_id"], "ID").replace(alice["request_id"], "ID")
                assert not any(v in text for v in theirs), (method, path)


async def api_session(gw: Running, name: str) -> str:
    async with aiohttp.ClientSession() as s, s.post(gw.root + "/api/user/session",
                                                    json={"username": name, "password": f"{name}-password-1"}) as r:
        body = await r.json()
        assert r.status == 201, body
        return str(body["token"])


@pytest.mark.asyncio(loop_scope="module")
async def test_every_key_holder_route_with_session_tokens_of_another_owner_a_disabled_user_and_an_expired_one(
        site: dict[str, Any]) -> None:
    """The same routes with a signed-in user's session token (``POST /api/user/session``) instead of a key."""
    gw: Running = site["gw"]
    alice = site["ids"]["alice"]
    theirs = (alice["key_id"], alice["request_id"], "alice laptop", "alice invoice", alice["secret"])
    users = gw.gateway.portal.users  # type: ignore[union-attr]
    async with aiohttp.ClientSession() as s:
        async def hit(method: str, path: str, token: str | None) -> tuple[int, str]:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            async with s.request(method, gw.root + fill(path, alice), headers=headers,
                                 json=BODIES.get(method)) as resp:
                return resp.status, await resp.text()

        # a disabled user's token, an expired session's token, a made-up token, a console session's cookie value
        await users.enable("carol")
        disabled = await api_session(gw, "carol")
        await users.disable("carol")
        expired = await api_session(gw, "bob")
        async with gw.gateway.engine.begin() as conn:
            await conn.execute(update(t.web_sessions).where(t.web_sessions.c.subject_name == "bob")
                               .values(expires_at=1))
        try:
            for method, path in sorted(KEYED):
                for token in (disabled, expired, "rgs_" + "A" * 43):
                    status, body = await hit(method, path, token)
                    assert status == 401 and "session_expired" in body, (method, path, status)
        finally:
            await users.enable("carol")

        bob = await api_session(gw, "bob")
        for method, path in sorted(KEYED - {("DELETE", "/api/user/session")}):
            status, text = await hit(method, path, bob)  # bob, signed in, with ids copied from alice
            assert status < 500, (method, path, status)
            if "{key_id}" in path or "{request_id}" in path:
                assert status == 404, (method, path, status)
                text = text.replace(alice["key_id"], "ID").replace(alice["request_id"], "ID")
            assert not any(v in text for v in theirs), (method, path)
        assert (await hit("DELETE", "/api/user/session", bob))[0] == 204  # signs bob out, nobody else
        assert (await hit("GET", "/api/user/balance", bob))[0] == 401
        assert (await hit("GET", "/api/user/balance", alice["secret"]))[0] == 200
        async with gw.gateway.engine.connect() as conn:
            from sqlalchemy import select

            row = (await conn.execute(select(t.api_keys.c.enabled).where(t.api_keys.c.id == alice["key_id"]))).one()
        assert row.enabled  # bob's POST to alice's key changed nothing


# the clients the issue names: (id, base URL suffix, where the base URL goes, where the key goes)
CLIENT_FORMS = [
    ("cursor", "/v1", "Override OpenAI Base URL", "OpenAI API Key"),
    ("cherry-studio", "", "API Host", "API Key"),
    ("lobechat", "/v1", "API Proxy Address", "API Key"),
    ("chatbox", "", "API Host", "API Key"),
    ("claude-code", "", "ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN"),
    ("codex-cli", "/v1", "~/.codex/config.toml", "env_key"),
    ("gemini-cli", "", "GOOGLE_GEMINI_BASE_URL", "GEMINI_API_KEY"),
    ("python-sdk", "/v1", "OPENAI_BASE_URL", "OPENAI_API_KEY"),
    ("node-sdk", "/v1", "OPENAI_BASE_URL", "OPENAI_API_KEY"),
]


@pytest.mark.asyncio(loop_scope="module")
async def test_set_up_every_client_the_issue_names_on_the_page_and_the_api_in_both_languages(
        site: dict[str, Any]) -> None:
    import html as html_lib

    gw: Running = site["gw"]
    alice = site["ids"]["alice"]
    async with Browser(gw) as b, aiohttp.ClientSession() as s:
        await sign_in(b, "alice")
        for lang in ("en", "zh-CN"):
            for client, suffix, base_field, key_field in CLIENT_FORMS:
                async with s.get(gw.root + f"/api/user/setup/{client}", headers={
                        "Authorization": f"Bearer {alice['secret']}", "Accept-Language": lang}) as resp:
                    api = await resp.json()
                    assert resp.status == 200, (client, lang, api)
                assert api["base_url"] == gw.root + suffix, (client, api["base_url"])
                if lang == "en":  # in zh-CN the fields carry the names the client's Chinese screens use
                    assert base_field in api["base_url_field"] and key_field in api["key_field"], client
                assert api["models"] == ["demo-chat"] and len(api["mistakes"]) >= 2, client
                assert alice["secret"] not in str(api)  # the example carries a masked key only
                if lang == "zh-CN":
                    assert any("\u4e00" <= ch <= "\u9fff" for ch in api["note"] + "".join(api["mistakes"])), client
                status, page = await b.get(f"/portal/setup?client={client}", headers={"Accept-Language": lang,
                                                                                      "Cookie": f"rg_lang={lang}"})
                assert status == 200, (client, lang)
                text = html_lib.unescape(page)
                assert f'data-testid="base-url">{api["base_url"]}<' in text, (client, lang)
                for part in (api["base_url_field"], api["key_field"], api["note"], *api["mistakes"]):
                    assert part in text, (client, lang, part)  # the page and the API: one source
                assert alice["secret"] not in text


# every portal page and action, and the API route that does the same (None: a browser matter, with the reason)
PORTAL_ON_THE_API: dict[tuple[str, str], tuple[str, str] | str] = {
    ("GET", "/portal/"): ("get", "/api/user/balance"),  # and the statement, below
    ("GET", "/portal/statement.{fmt}"): ("get", "/api/user/statement"),
    ("GET", "/portal/keys"): ("get", "/api/user/keys"),
    ("POST", "/portal/keys"): ("post", "/api/user/keys"),
    ("POST", "/portal/keys/{key_id}/disable"): ("post", "/api/user/keys/{key_id}/disable"),
    ("GET", "/portal/account"): ("get", "/api/user/notice"),
    ("POST", "/portal/account/notice"): ("put", "/api/user/notice"),
    ("POST", "/portal/account/password"): ("post", "/api/user/password"),
    ("GET", "/portal/requests"): ("get", "/api/user/requests"),
    ("GET", "/portal/requests/{request_id}"): ("get", "/api/user/requests/{request_id}"),
    ("GET", "/portal/setup"): ("get", "/api/user/setup/{client}"),
    ("GET", "/portal/redeem"): ("post", "/api/user/redeem"),
    ("POST", "/portal/redeem"): ("post", "/api/user/redeem"),
    ("POST", "/portal/logout"): ("delete", "/api/user/session"),
    ("*", "/portal"): "a redirect to /portal/",
    ("*", "/portal/login"): ("post", "/api/user/session"),
    ("*", "/portal/signup"): ("post", "/api/user/signup"),
    ("*", "/portal/invite/{token}"): ("post", "/api/user/signup"),  # the invite's token in "invite"
    ("*", "/portal/verify/{token}"): ("post", "/api/user/verify"),
    ("*", "/portal/forgot"): ("post", "/api/user/password/forgot"),
    ("*", "/portal/reset/{token}"): ("post", "/api/user/password/reset"),
    ("*", "/portal/sso/start"): "single sign-on is a browser redirect flow (OpenID Connect)",
    ("*", "/portal/sso/callback"): "single sign-on is a browser redirect flow (OpenID Connect)",
}


@pytest.mark.asyncio(loop_scope="module")
async def test_everything_in_the_portal_is_also_on_the_api(site: dict[str, Any]) -> None:
    gw: Running = site["gw"]
    async with aiohttp.ClientSession() as s, s.get(gw.root + "/api/openapi.json") as resp:
        doc = await resp.json()
    listed = set(PORTAL_ON_THE_API)
    assert {k for k in listed if k[0] != "*"} == SIGNED_IN and {p for m, p in listed if m == "*"} == OPEN
    for page, api in PORTAL_ON_THE_API.items():
        if isinstance(api, str):
            continue
        method, path = api
        op = doc["paths"].get(path, {}).get(method)
        assert op is not None, (page, api)
        assert op["tags"][0].startswith("key holders"), (page, api)
