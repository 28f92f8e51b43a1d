"""The portal's features over the API: a key holder's own keys and notice (API key), sign-up, confirmation and
reset without a key, and the operators' routes for users, invites, reset links and owner policies. Every
route is in the OpenAPI document; rate limits answer 429 with Retry-After; no answer reveals whether an
account exists."""

from __future__ import annotations

from typing import Any

import aiohttp

from relaygate.core.money import parse_amount
from tests.harness import Running, running_gateway


async def call(gw: Running, method: str, path: str, token: str | None = None, **kw: Any) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as s, s.request(method, gw.root + path, headers=headers, **kw) as resp:
        body = await resp.json() if resp.content_type == "application/json" else await resp.text()
        return resp.status, body


async def test_own_keys_over_the_api_within_bounds_and_never_anothers(gw: Running) -> None:
    alice, alice_key = await gw.add_key("alice")
    bob, bob_key = await gw.add_key("bob")
    status, body = await call(gw, "POST", "/api/user/keys", alice, json={"name": "mine"})
    assert status == 403, body  # the owner's policy does not allow it yet
    admin = gw.admin_token
    status, policy = await call(gw, "PUT", "/api/owners/alice/portal", admin,
                                json={"self_keys": True, "max_keys": 2, "max_cap_daily": "3", "max_rpm": 30})
    assert status == 200 and policy["max_cap_daily"] == "3", policy
    assert (await call(gw, "GET", "/api/user/keys/policy", alice))[1]["self_keys"] is True
    status, made = await call(gw, "POST", "/api/user/keys", alice, json={"name": "ci", "cap_daily": "4"})
    assert status == 400 and "at most" in made["error"]["message"]
    status, made = await call(gw, "POST", "/api/user/keys", alice, json={"name": "ci"})
    assert status == 201 and made["secret"].startswith("sk-") and made["caps"]["daily"] == "3"
    async with aiohttp.ClientSession() as s, s.get(gw.base_url + "/models",
                                                   headers={"Authorization": f"Bearer {made['secret']}"}) as resp:
        assert resp.status == 200  # the new key works at once
    _, listed = await call(gw, "GET", "/api/user/keys", alice)
    assert made["secret"] not in str(listed) and made["id"] in str(listed)
    status, _ = await call(gw, "POST", "/api/user/keys", alice, json={"name": "third"})
    assert status == 409  # two enabled keys: alice's first and this one
    assert (await call(gw, "POST", f"/api/user/keys/{alice_key}/disable", bob))[0] == 404  # bob: not found
    assert (await call(gw, "POST", "/api/user/keys/key_doesnotexist/disable", bob))[0] == 404
    status, off = await call(gw, "POST", f"/api/user/keys/{made['id']}/disable", alice)
    assert status == 200 and off["enabled"] is False
    async with aiohttp.ClientSession() as s, s.get(gw.base_url + "/models",
                                                   headers={"Authorization": f"Bearer {made['secret']}"}) as resp:
        assert resp.status == 401
    assert (await call(gw, "GET", "/api/user/keys/policy", bob))[1]["self_keys"] is False
    assert bob_key not in str(await call(gw, "GET", "/api/user/keys", alice))


async def test_sign_up_reset_and_invites_over_the_api(sqlite_url: str, tmp_path: Any) -> None:
    async with running_gateway(sqlite_url, data_dir=str(tmp_path), portal_signup="invite") as gw:
        admin = gw.admin_token
        await gw.gateway.accounts.create_owner("team")
        status, body = await call(gw, "POST", "/api/user/signup", json={"username": "ned", "password": "ned-pass-1"})
        assert status == 403 and "invite" in body["error"]["message"]
        status, invite = await call(gw, "POST", "/api/users/invites", admin, json={"owner": "team", "username": "ned"})
        assert status == 201 and invite["link"].startswith(gw.root + "/portal/invite/rgi_"), invite
        status, made = await call(gw, "POST", "/api/user/signup",
                                  json={"username": "ned", "password": "ned-pass-1", "invite": invite["token"]})
        assert status == 201 and made["verification_sent"] is False, made
        status, _ = await call(gw, "POST", "/api/user/signup",
                                   json={"username": "ned2", "password": "ned-pass-1", "invite": invite["token"]})
        assert status == 410
        _, users = await call(gw, "GET", "/api/users", admin)
        assert [u["username"] for u in users] == ["ned"]
        status, link = await call(gw, "POST", "/api/users/ned/reset-link", admin, json={})
        assert status == 201 and "/portal/reset/rgr_" in link["link"]
        token = link["link"].rsplit("/", 1)[1]
        status, done = await call(gw, "POST", "/api/user/password/reset", json={"token": token,
                                                                               "password": "ned-pass-2"})
        assert status == 200 and done["username"] == "ned"
        assert (await call(gw, "POST", "/api/user/password/reset", json={"token": token,
                                                                        "password": "ned-pass-3"}))[0] == 410
        known = await call(gw, "POST", "/api/user/password/forgot", json={"ident": "ned"})
        unknown = await call(gw, "POST", "/api/user/password/forgot", json={"ident": "nobody"})
        assert known == unknown and known[0] == 202  # nothing says whether ned exists
        statuses = [(await call(gw, "POST", "/api/user/password/forgot", json={"ident": "x"}))[0] for _ in range(4)]
        assert statuses[-1] == 429  # five per address per 15 minutes (the reset above counted too)
        async with aiohttp.ClientSession() as s, s.post(gw.root + "/api/user/password/forgot",
                                                        json={"ident": "x"}) as resp:
            assert resp.status == 429 and int(resp.headers["Retry-After"]) > 0
            assert (await resp.json())["error"]["code"] == "rate_limited"
        assert (await call(gw, "POST", f"/api/users/invites/{invite['id']}/revoke", admin))[0] == 200
        assert (await call(gw, "POST", "/api/users/ned/disable", admin))[1]["enabled"] is False
        async with gw.gateway.engine.connect() as conn:
            from sqlalchemy import select

            from relaygate.store import tables as t

            audit = str((await conn.execute(select(t.audit_log))).all())
        assert token not in audit and invite["token"] not in audit and "ned-pass-2" not in audit


async def test_redeeming_wrong_codes_is_rate_limited(gw: Running) -> None:
    alice, _ = await gw.add_key("alice")
    for _ in range(10):
        status, _ = await call(gw, "POST", "/api/user/redeem", alice, json={"code": "0" * 32})
        assert status in (400, 404, 410)
    status, body = await call(gw, "POST", "/api/user/redeem", alice, json={"code": "0" * 32})
    assert status == 429 and body["error"]["code"] == "rate_limited"
    await gw.gateway.ledger.record("alice", "topup", parse_amount("1"), "x", "tests")


async def test_every_portal_route_is_in_the_openapi_document(gw: Running) -> None:
    _, doc = await call(gw, "GET", "/api/openapi.json")
    paths = doc["paths"]
    for path, method in (("/api/user/keys", "post"), ("/api/user/keys/{key_id}/disable", "post"),
                         ("/api/user/keys/policy", "get"), ("/api/user/notice", "put"), ("/api/user/notice", "get"),
                         ("/api/user/signup", "post"), ("/api/user/verify", "post"),
                         ("/api/user/password/forgot", "post"), ("/api/user/password/reset", "post"),
                         ("/api/users", "get"), ("/api/users/invites", "post"),
                         ("/api/users/{ident}/reset-link", "post"),
                         ("/api/owners/{owner}/portal", "put")):
        assert method in paths.get(path, {}), (path, method)
