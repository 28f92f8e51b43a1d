"""The admin REST API: token auth, CRUD, secrets shown once, usage search, config as code, OpenAPI."""

from __future__ import annotations

from typing import Any

import aiohttp
import openai
import yaml

from relaygate.fakeupstream import FakeUpstream
from tests.harness import Running


async def call(gw: Running, method: str, path: str, token: str | None = None, **kw: Any) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token or gw.admin_token}"}
    async with aiohttp.ClientSession() as s:
        async with s.request(method, gw.root + path, headers=headers, **kw) as resp:
            text = await resp.text()
            try:
                return resp.status, (await resp.json(content_type=None)) if text else None
            except ValueError:
                return resp.status, text


async def test_first_start_seeds_an_admin_token_and_key(gw: Running) -> None:
    assert gw.admin_token.startswith("rga-") and gw.api_key.startswith("sk-") and len(gw.api_key) == 51
    status, keys = await call(gw, "GET", "/api/keys")
    assert status == 200 and len(keys) == 1 and keys[0]["environment"] == "testing"
    assert gw.api_key not in str(keys) and keys[0]["masked"] == f"sk-{gw.api_key[3:7]}…{gw.api_key[-4:]}"


async def test_admin_auth_is_required(gw: Running) -> None:
    status, body = await call(gw, "GET", "/api/keys", token="rga-wrong")
    assert status == 401 and "admin token" in body["error"]["message"]
    async with aiohttp.ClientSession() as s, s.get(gw.root + "/api/openapi.json") as resp:
        spec = await resp.json()
    assert resp.status == 200 and "/api/keys" in spec["paths"] and "/api/channels" in spec["paths"]


async def test_owner_group_key_channel_lifecycle_via_rest(gw: Running, fake: FakeUpstream) -> None:
    status, _owner = await call(gw, "POST", "/api/owners", json={"name": "team-a", "kind": "team"})
    assert status == 201
    status, _ = await call(gw, "POST", "/api/groups", json={"name": "vip", "models": ["m1"]})
    assert status == 201
    status, ch = await call(gw, "POST", "/api/channels", json={
        "name": "up", "base_url": fake.base_url, "secrets": ["sk-upstream-abcdefghijkl"], "models": {"m1": "real-1"}})
    assert status == 201 and ch["secrets"] == ["sk-…ijkl"]
    status, key = await call(gw, "POST", "/api/keys", json={
        "name": "svc", "owner": "team-a", "group": "vip", "environment": "production", "expires_at": "30d"})
    assert status == 201 and key["secret"].startswith("sk-") and key["expires_at"]
    # served at once by this process (no wait for the poll)
    client = openai.AsyncOpenAI(base_url=gw.base_url, api_key=key["secret"], max_retries=0)
    resp = await client.chat.completions.create(model="m1", messages=[{"role": "user", "content": "x"}])
    assert resp.choices and fake.state.requests[-1]["body"]["model"] == "real-1"
    status, listed = await call(gw, "GET", "/api/keys?owner=team-a")
    assert [k["id"] for k in listed] == [key["id"]] and "secret" not in listed[0]
    status, patched = await call(gw, "PATCH", f"/api/keys/{key['id']}", json={"enabled": False,
                                                                          "disabled_reason": "rotated"})
    assert status == 200 and patched["enabled"] is False
    try:
        await client.chat.completions.create(model="m1", messages=[{"role": "user", "content": "x"}])
        raise AssertionError("disabled key still works")
    except openai.AuthenticationError as exc:
        assert exc.code == "key_disabled"
    status, body = await call(gw, "DELETE", "/api/owners/team-a")
    assert status == 409 and "1 key" in body["error"]["message"]
    status, _ = await call(gw, "DELETE", f"/api/keys/{key['id']}")
    assert status == 204
    status, channels = await call(gw, "GET", "/api/channels")
    assert channels[0]["health"]["state"] == "healthy" and "sk-upstream-abcdefghijkl" not in str(channels)
    status, body = await call(gw, "POST", "/api/channels", json={
        "name": "bad", "base_url": "ftp://x", "secrets": ["s"], "models": ["a"]})
    assert status == 400 and "Base URL" in body["error"]["message"]


async def test_usage_search_filters_and_pages(gw: Running, fake: FakeUpstream) -> None:
    await gw.add_channel(fake, "up", ["m1"])
    secret, key_id = await gw.add_key("u1")
    client = openai.AsyncOpenAI(base_url=gw.base_url, api_key=secret, max_retries=0)
    for _ in range(3):
        await client.chat.completions.create(model="m1", messages=[{"role": "user", "content": "x"}])
    try:
        await client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    except openai.NotFoundError:
        pass
    await gw.gateway.usage.flush()
    status, page = await call(gw, "GET", f"/api/usage?key_id={key_id}&limit=2")
    assert status == 200 and len(page["data"]) == 2 and page["next_before_id"]
    status, rest = await call(gw, "GET", f"/api/usage?key_id={key_id}&limit=2&before_id={page['next_before_id']}")
    assert len(rest["data"]) == 2
    status, errors = await call(gw, "GET", "/api/usage?errors_only=true&since=1h")
    assert [r["error_code"] for r in errors["data"]] == ["model_not_found"]
    status, by_model = await call(gw, "GET", "/api/usage?model=m1&status=200")
    assert len(by_model["data"]) == 3 and all(r["masked_key"] for r in by_model["data"])
    assert secret not in str(by_model)


async def test_config_export_apply_round_trip(gw: Running, fake: FakeUpstream, monkeypatch: Any) -> None:
    await gw.add_channel(fake, "up", {"m1": "real-1"}, secrets=["sk-secret-value-000000001"])
    await gw.gateway.routing.upsert_model("m1", aliases=["old-m1"])
    status, text = await call(gw, "GET", "/api/config/export")
    assert status == 200 and "sk-secret-value-000000001" not in text and "sk-…0001" in text
    doc = yaml.safe_load(text)
    status, same = await call(gw, "POST", "/api/config/apply", data=text)
    assert status == 200 and same == {"applied": False, "changes": []}
    doc["channels"][0]["priority"] = 5
    monkeypatch.setenv("NEW_SECRET", "sk-from-env-1234567890")
    doc["channels"].append({"name": "new", "base_url": fake.base_url, "secrets": ["${NEW_SECRET}"],
                            "models": {"m2": "m2"}})
    status, dry = await call(gw, "POST", "/api/config/apply?dry_run=true", data=yaml.safe_dump(doc))
    assert dry["applied"] is False and dry["changes"] == ["update channel up: priority", "create channel new"]
    assert len(await gw.gateway.routing.list_channels()) == 1
    status, done = await call(gw, "POST", "/api/config/apply", data=yaml.safe_dump(doc))
    assert done["applied"] is True
    assert gw.gateway.state.snapshot.channels[2].secrets == ("sk-from-env-1234567890",)
    status, _bad = await call(gw, "POST", "/api/config/apply", data="version: 9")
    assert status == 400


async def test_bare_admin_token_is_accepted_like_one_api_scripts_send_it(gw: Running) -> None:
    async with aiohttp.ClientSession() as s:
        async with s.get(gw.root + "/api/keys", headers={"Authorization": gw.admin_token}) as resp:
            assert resp.status == 200
        async with s.get(gw.root + "/api/keys", headers={"Authorization": "rga-not-a-token"}) as resp:
            assert resp.status == 401


async def test_admin_writes_reload_everything_that_follows_the_config(gw: Running) -> None:
    status, _ = await call(gw, "POST", "/api/owners", json={"name": "ops"})
    assert status == 201
    status, rule = await call(gw, "POST", "/api/alerts/rules", json={"owner": "ops", "balance_below": "5"})
    assert status == 201
    assert rule["target"] in gw.gateway.alerts.rules_by_target  # in force at once, not at the next poll
