"""A key holder without an API key uses the whole key-holder API: sign in with the portal's username and password
(an imported One API bcrypt hash verifies as it is), get a session token, see balance, statement, keys,
requests, set-up, policy and notice, create a key, redeem a code, change the password, sign out. The portal's
rules hold: wrong passwords lock, an unconfirmed e-mail refuses, a disabled user's and an expired session's
token stops at once. The OpenAPI document declares the bearer scheme on every key-holder route."""

from __future__ import annotations

from typing import Any

import aiohttp
import bcrypt
from sqlalchemy import update

from relaygate.core.money import parse_amount
from relaygate.store import tables as t
from tests.harness import Running

PASSWORD = "one-api-password-1"


async def call(gw: Running, method: str, path: str, token: str | None = None, **kw: Any) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as s, s.request(method, gw.root + path, headers=headers, **kw) as resp:
        body = await resp.json() if resp.content_type == "application/json" else await resp.text()
        return resp.status, body


async def sign_in(gw: Running, username: str, password: str) -> tuple[int, Any]:
    return await call(gw, "POST", "/api/user/session", json={"username": username, "password": password})


async def test_a_user_without_a_key_does_everything_over_the_api(gw: Running) -> None:
    await gw.gateway.accounts.create_owner("vera team")
    one_api_hash = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode().replace("$2b$", "$2a$")
    made = await gw.gateway.portal.users.import_hashed("vera", "vera team", one_api_hash,  # type: ignore[union-attr]
                                                       "one-api")
    assert made is not None
    owner_id = made["owner_id"]
    await gw.gateway.ledger.record(owner_id, "topup", parse_amount("7"), "invoice 3", "tests")
    await gw.gateway.portal.self_keys.set_policy(owner_id, "tests", self_keys=True, max_keys=2)  # type: ignore[union-attr]

    status, body = await sign_in(gw, "vera", "wrong-password-0")
    assert status == 401 and body["error"]["code"] == "sign_in_refused", body
    status, session = await sign_in(gw, "vera", PASSWORD)
    assert status == 201, session
    token = session["token"]
    assert token.startswith("rgs_") and session["user"]["username"] == "vera" and session["expires_at"]

    assert (await call(gw, "GET", "/api/user/session", token))[1]["username"] == "vera"
    status, balance = await call(gw, "GET", "/api/user/balance", token)
    assert status == 200 and balance["balance"] == "7", balance
    status, st = await call(gw, "GET", "/api/user/statement", token)
    assert status == 200 and "invoice 3" in str(st)
    assert (await call(gw, "GET", "/api/user/keys", token)) == (200, [])
    assert (await call(gw, "GET", "/api/user/requests", token)) == (200, [])
    assert (await call(gw, "GET", "/api/user/keys/policy", token))[1]["max_keys"] == 2
    status, setup = await call(gw, "GET", "/api/user/setup/claude-code", token)
    assert status == 200 and setup, setup
    status, key = await call(gw, "POST", "/api/user/keys", token, json={"name": "vera laptop"})
    assert status == 201 and key["secret"].startswith("sk-"), key
    async with aiohttp.ClientSession() as s, s.get(gw.base_url + "/models",
                                                   headers={"Authorization": f"Bearer {key['secret']}"}) as resp:
        assert resp.status == 200  # the first key of a user who had none, made over the API
    status, listed = await call(gw, "GET", "/api/user/keys", token)
    assert key["id"] in str(listed) and key["secret"] not in str(listed)
    status, body = await call(gw, "PUT", "/api/user/notice", token, json={"threshold": "2"})
    assert status == 400 and "where to send" in body["error"]["message"]  # the portal's rule, over the API
    assert (await call(gw, "PUT", "/api/user/notice", token, json={"threshold": None}))[0] == 200
    assert (await call(gw, "GET", "/api/user/notice", token))[1]["enabled"] is False
    from relaygate.services.operate.codes import RedemptionCodes

    codes = await RedemptionCodes(gw.gateway.engine, gw.gateway.settings.currency).create_batch(
        "tests", parse_amount("3"), 1, None, "tests")
    status, redeemed = await call(gw, "POST", "/api/user/redeem", token, json={"code": codes["codes"][0]})
    assert status == 200, redeemed
    assert (await call(gw, "GET", "/api/user/balance", token))[1]["balance"] == "10"
    assert (await call(gw, "POST", f"/api/user/keys/{key['id']}/disable", token))[1]["enabled"] is False

    # a second session; changing the password from the first ends the second, keeps the first
    _, other = await sign_in(gw, "vera", PASSWORD)
    status, body = await call(gw, "POST", "/api/user/password", token, json={"current": "nope-nope-1",
                                                                             "password": "new-password-22"})
    assert status == 403, body
    status, body = await call(gw, "POST", "/api/user/password", token, json={"current": PASSWORD,
                                                                             "password": "new-password-22"})
    assert status == 200, body
    status, body = await call(gw, "GET", "/api/user/balance", other["token"])
    assert status == 401 and body["error"]["code"] == "session_expired"
    assert (await call(gw, "GET", "/api/user/balance", token))[0] == 200
    assert (await sign_in(gw, "vera", PASSWORD))[0] == 401
    assert (await sign_in(gw, "vera", "new-password-22"))[0] == 201

    # signing out ends the token
    assert (await call(gw, "DELETE", "/api/user/session", token))[0] == 204
    assert (await call(gw, "GET", "/api/user/balance", token))[0] == 401


async def test_lock_out_unconfirmed_disabled_expired_and_keys_on_session_routes(gw: Running) -> None:
    await gw.gateway.accounts.create_owner("walt team")
    users = gw.gateway.portal.users  # type: ignore[union-attr]
    await users.add("walt", "walt team", "walt-password-1")
    for _ in range(5):
        assert (await sign_in(gw, "walt", "wrong-password-0"))[0] == 401
    status, body = await sign_in(gw, "walt", "walt-password-1")
    assert status == 401 and "locked" in body["error"]["message"]  # the right password, but locked
    await users.enable("walt")  # an operator unlocks

    _, session = await sign_in(gw, "walt", "walt-password-1")
    token = session["token"]
    await users.disable("walt")
    status, body = await call(gw, "GET", "/api/user/balance", token)
    assert status == 401 and body["error"]["code"] == "session_expired"
    assert (await sign_in(gw, "walt", "walt-password-1"))[0] == 401
    await users.enable("walt")

    _, session = await sign_in(gw, "walt", "walt-password-1")
    async with gw.gateway.engine.begin() as conn:
        await conn.execute(update(t.web_sessions).where(t.web_sessions.c.subject_name == "walt").values(expires_at=1))
    assert (await call(gw, "GET", "/api/user/balance", session["token"]))[0] == 401
    for made_up in ("rgs_" + "A" * 43, "rgs_", "rgs_" + "x" * 200):
        status, body = await call(gw, "GET", "/api/user/balance", made_up)
        assert status == 401 and body["error"]["code"] == "session_expired"

    secret, _ = await gw.add_key("walt team")
    for method, path in (("GET", "/api/user/session"), ("DELETE", "/api/user/session"),
                         ("POST", "/api/user/password")):
        status, body = await call(gw, method, path, secret, json={"current": "x", "password": "new-password-22"})
        assert status == 403 and "session token" in body["error"]["message"], (method, path, body)


async def test_an_operators_admin_token_or_console_session_opens_nothing_here(gw: Running) -> None:
    from relaygate.services.operate.websessions import WebSessions

    assert (await call(gw, "GET", "/api/user/balance", gw.admin_token))[0] == 401
    raw, _ = await WebSessions(gw.gateway.engine).create("operator", "op_1", "ada", "admin", None, None)
    status, body = await call(gw, "GET", "/api/user/balance", "rgs_" + raw)  # a console session is no user's
    assert status == 401 and body["error"]["code"] == "session_expired"


async def test_the_openapi_document_declares_the_key_holder_scheme_on_every_route(gw: Running) -> None:
    _, doc = await call(gw, "GET", "/api/openapi.json")
    scheme = doc["components"]["securitySchemes"]["KeyHolder"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    keyless = {"/api/user/signup", "/api/user/verify", "/api/user/password/forgot", "/api/user/password/reset"}
    seen = 0
    for path, item in doc["paths"].items():
        if not path.startswith("/api/user/"):
            continue
        for method, op in item.items():
            if path in keyless or (path, method) == ("/api/user/session", "post"):
                assert not op.get("security"), (path, method)
                continue
            seen += 1
            assert op.get("security") == [{"KeyHolder": []}], (path, method)
            assert "401" in op["responses"], (path, method)
            assert "key holders" in op["tags"][0], (path, method)
    assert seen >= 15
    for path, method in (("/api/user/session", "post"), ("/api/user/session", "get"),
                         ("/api/user/session", "delete"), ("/api/user/password", "post")):
        assert method in doc["paths"][path], (path, method)


async def test_signing_in_over_the_api_is_rate_limited_per_address(gw: Running) -> None:
    statuses = [(await sign_in(gw, "nobody", "wrong-password-0"))[0] for _ in range(30)]
    assert set(statuses) == {401}
    status, body = await sign_in(gw, "nobody", "wrong-password-0")
    assert status == 429 and body["error"]["code"] == "rate_limited"
    async with aiohttp.ClientSession() as s, s.post(gw.root + "/api/user/session",
                                                    json={"username": "x", "password": "y"}) as resp:
        assert int(resp.headers["Retry-After"]) > 0
