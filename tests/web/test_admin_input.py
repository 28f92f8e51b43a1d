"""The admin API and bad input: 400 in the relay's envelope naming the parameter, unknown parameters refused,
admin_unauthorized for a wrong token, every code and the bearer scheme in the OpenAPI document, key terms."""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.harness import Running


async def api(gw: Running, method: str, path: str, *, token: str | None = None, lang: str = "en",
              **kw: Any) -> tuple[int, Any, dict[str, str]]:
    headers = {"Accept-Language": lang, **kw.pop("headers", {})}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with aiohttp.ClientSession() as s:
        async with s.request(method, gw.root + path, headers=headers, **kw) as resp:
            body = await resp.json(content_type=None) if resp.content_type == "application/json" else await resp.text()
            return resp.status, body, {k.lower(): v for k, v in resp.headers.items()}


def envelope(body: Any, code: str) -> dict[str, Any]:
    assert isinstance(body, dict) and set(body) == {"error"}, body
    err = body["error"]
    assert err["code"] == code and err["request_id"] in err["message"] and "type" in err, err
    return dict(err)


async def test_bad_times_are_400_not_500(gw: Running) -> None:
    for query in ("until=null", "since=yesterday", "since=2024-13-45", "until=99999999999999999999d"):
        status, body, _ = await api(gw, "GET", f"/api/usage?{query}", token=gw.admin_token)
        assert status == 400, (query, body)
        err = envelope(body, "bad_request")
        assert err["param"] == query.split("=")[0]
        assert "ISO" in err["message"] or "out of range" in err["message"]
    status, body, _ = await api(gw, "GET", "/api/usage?since=yesterday", token=gw.admin_token, lang="zh-CN")
    assert status == 400 and "不是有效的" in envelope(body, "bad_request")["message"]


async def test_unknown_query_parameters_are_refused(gw: Running) -> None:
    status, body, _ = await api(gw, "GET", "/api/usage?errors=true", token=gw.admin_token)
    err = envelope(body, "bad_request")
    assert status == 400 and err["param"] == "errors" and "errors_only" in err["message"]
    status, body, _ = await api(gw, "GET", "/api/usage?errors_only=true&limit=5", token=gw.admin_token)
    assert status == 200 and body["data"] == []
    status, body, _ = await api(gw, "GET", "/api/owners?verbose=1", token=gw.admin_token)
    assert status == 400 and envelope(body, "bad_request")["param"] == "verbose"


async def test_wrong_types_are_400_in_the_envelope(gw: Running) -> None:
    for method, path, kw, param in (
            ("GET", "/api/usage?limit=lots", {}, "limit"),
            ("GET", "/api/usage?status=abc", {}, "status"),
            ("POST", "/api/owners", {"json": {"kind": "person"}}, "name"),
            ("POST", "/api/owners", {"data": b"{not json", "headers": {"Content-Type": "application/json"}}, None),
            ("POST", "/api/channels", {"json": {"name": "c", "base_url": "http://x", "secrets": "s", "models": [],
                                                "priority": "high"}}, None),
            ("DELETE", "/api/alerts/rules/abc", {}, "rule_id")):
        status, body, _ = await api(gw, method, path, token=gw.admin_token, **kw)
        assert status == 400, (path, body)
        err = envelope(body, "bad_request")
        if param:
            assert err["param"] == param and f"'{param}'" in err["message"], err


async def test_wrong_admin_token_is_admin_unauthorized(gw: Running) -> None:
    for token in (None, "nope", ""):
        status, body, headers = await api(gw, "GET", "/api/owners", token=token)
        assert status == 401 and headers.get("www-authenticate") == "Bearer"
        assert "Bearer <admin token>" in envelope(body, "admin_unauthorized")["message"]
    async with aiohttp.ClientSession() as s:  # the bare token One API's scripts send still works
        async with s.get(gw.root + "/api/owners", headers={"Authorization": gw.admin_token}) as resp:
            assert resp.status == 200


async def test_not_found_and_conflict_codes(gw: Running) -> None:
    status, body, _ = await api(gw, "GET", "/api/keys/key_nope", token=gw.admin_token)
    assert status == 404 and envelope(body, "resource_not_found")
    await api(gw, "POST", "/api/owners", token=gw.admin_token, json={"name": "dup"})
    status, body, _ = await api(gw, "POST", "/api/owners", token=gw.admin_token, json={"name": "dup"})
    assert status == 409 and envelope(body, "conflict")
    status, body, _ = await api(gw, "GET", "/api/nothing-here", token=gw.admin_token)
    assert status == 404 and envelope(body, "not_found")
    status, body, _ = await api(gw, "PUT", "/api/owners", token=gw.admin_token, json={})
    assert status == 405 and envelope(body, "method_not_allowed")


async def test_openapi_declares_codes_and_the_bearer_scheme(gw: Running) -> None:
    status, doc, _ = await api(gw, "GET", "/api/openapi.json")
    assert status == 200
    assert doc["components"]["securitySchemes"]["adminToken"] == {
        "type": "http", "scheme": "bearer", "description": doc["components"]["securitySchemes"]["adminToken"][
            "description"]}
    for path, item in doc["paths"].items():
        for method, op in item.items():
            codes = set(op["responses"])
            assert "422" not in codes, (method, path)
            assert {"400", "404", "409"} <= codes, (method, path, codes)
            if path in ("/api/user/signup", "/api/user/verify", "/api/user/password/forgot",
                        "/api/user/password/reset"):  # the portal's doors: no key, rate-limited
                assert "429" in codes and not op.get("security"), (method, path)
            elif path.startswith("/api/user/"):  # key holders: their own API key, the relay's key codes
                assert "401" in codes, (method, path)
            elif path.startswith("/api/") and "/api/v1" not in path:
                assert op.get("security") == [{"adminToken": []}], (method, path)
                assert "401" in codes


async def test_key_limits_and_caps_over_the_api(gw: Running) -> None:
    status, _, _ = await api(gw, "POST", "/api/owners", token=gw.admin_token, json={"name": "capped"})
    assert status == 201
    status, key, _ = await api(gw, "POST", "/api/keys", token=gw.admin_token, json={
        "name": "k", "owner": "capped", "rpm": 60, "tpm": 10**12, "concurrency": 4, "cap_daily": "25",
        "cap_total": "100.5"})
    assert status == 201, key
    assert key["limits"] == {"rpm": 60, "tpm": 10**12, "concurrency": 4}
    assert key["caps"]["daily"] is not None and key["caps"]["total"] is not None and key["caps"]["monthly"] is None
    await gw.gateway.state.reload()
    snap_key = gw.gateway.state.snapshot.keys_by_id[key["id"]]
    assert snap_key.rpm == 60 and snap_key.concurrency == 4
    status, patched, _ = await api(gw, "PATCH", f"/api/keys/{key['id']}", token=gw.admin_token,
                                   json={"rpm": None, "cap_monthly": "7", "tpm": 500})
    assert status == 200, patched
    assert patched["limits"] == {"rpm": None, "tpm": 500, "concurrency": 4}
    assert patched["caps"]["monthly"] is not None and patched["caps"]["daily"] == key["caps"]["daily"]
    for bad in ({"rpm": 0}, {"rpm": "fast"}, {"cap_daily": "lots"}, {"tpm": 2**64}):
        status, body, _ = await api(gw, "PATCH", f"/api/keys/{key['id']}", token=gw.admin_token, json=bad)
        assert status == 400, (bad, body)
        envelope(body, "bad_request")
