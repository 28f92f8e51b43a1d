"""Every row of docs/misconfiguration.md sent to a running gateway: the answer, its dialect, language, count."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from relaygate.services.support.examples import EXAMPLES, Example
from relaygate.services.support.misconfig import RULES
from tests.harness import Running
from tests.support.conftest import DOCS, Reply, raw_request

pytestmark = pytest.mark.asyncio(loop_scope="module")

ROOT = "https://ai.example.com"


def error_of(reply: Reply, envelope: str) -> dict[str, Any]:
    """The error object, checked against the shape of the dialect; returns code, message, hint."""
    body = reply.json()
    if envelope == "anthropic":
        assert body["type"] == "error" and body["error"]["type"] == "not_found_error"
        assert body["request_id"] == reply.headers["x-request-id"]
        err = body["error"]
        return {"code": err["code"], "message": err["message"], "hint": err["hint"], "doc_url": err.get("doc_url")}
    if envelope == "gemini":
        err = body["error"]
        assert err["code"] == 404 and err["status"] == "NOT_FOUND"
        meta = err["details"][0]["metadata"]
        return {"code": meta["code"], "message": err["message"],
                "hint": {"mistake": meta["mistake"], "base_url": meta["base_url"],
                         "expected_path": meta.get("expected_path")}, "doc_url": meta.get("doc_url")}
    err = body["error"]
    assert set(err) >= {"message", "type", "code", "param", "request_id"}
    assert err["request_id"] == reply.headers["x-request-id"]
    return err


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
@pytest.mark.parametrize("example", EXAMPLES, ids=[f"{e.method} {e.path}" for e in EXAMPLES])
async def test_every_documented_mistake_gets_its_answer(support_gw: Running, example: Example, lang: str) -> None:
    headers = dict(example.headers)
    headers["Accept-Language"] = "zh-CN,zh;q=0.9" if lang == "zh-CN" else "en-US"
    body = b'{"model":"gpt-4o-mini","messages":[]}' if example.method == "POST" else b""
    reply = await raw_request(support_gw.port, example.method, example.path, headers, body)
    code = RULES[example.rule][0]
    assert reply.status == 404, reply.body
    err = error_of(reply, example.envelope)
    assert err["code"] == code
    assert err["hint"]["mistake"] == example.rule
    assert err["hint"]["expected_path"] == example.expected_path
    assert err["doc_url"] == f"{DOCS}/errors/{code}"
    message: str = err["message"]
    assert reply.headers["x-request-id"] in message
    assert err["hint"]["base_url"] in (ROOT, ROOT + "/v1")
    assert err["hint"]["base_url"] in message  # the right base URL for this deployment, in words
    assert example.path in message
    if lang == "zh-CN":
        assert ("Base URL 填写有误" if code == "base_url_mistake" else "本网关不提供") in message
    else:
        assert ("Wrong base URL" if code == "base_url_mistake" else "is not served by this gateway") in message


async def test_client_specific_fix_names_the_clients_own_field(support_gw: Running) -> None:
    reply = await raw_request(support_gw.port, "POST", "/v1/v1/chat/completions",
                              {"User-Agent": "Mozilla/5.0 CherryStudio/1.9.6 Chrome/130"})
    assert f"Cherry Studio: set API Host to {ROOT}." in reply.json()["error"]["message"]
    reply = await raw_request(support_gw.port, "POST", "/v1/v1/chat/completions",
                              {"User-Agent": "CherryStudio/1.9.6", "Accept-Language": "zh-CN"})
    assert f"Cherry Studio：请把 API 地址 设为 {ROOT}。" in reply.json()["error"]["message"]
    reply = await raw_request(support_gw.port, "POST", "/v1/v1/messages",
                              {"User-Agent": "claude-cli/2.1.197 (external, cli)", "x-api-key": "sk-whatever"})
    assert f"Claude Code: set ANTHROPIC_BASE_URL to {ROOT}." in reply.json()["error"]["message"]


async def test_mistakes_are_counted_as_usage_records_with_safe_fields(support_gw: Running) -> None:
    secret, key_id = await support_gw.add_key("dora", name="cherry")
    prompt = "my secret prompt text 1234"
    body = orjson.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": prompt}]})
    reply = await raw_request(support_gw.port, "POST", "/v1/v1/chat/completions",
                              {"Authorization": f"Bearer {secret}", "User-Agent": "CherryStudio/1.9.6"}, body)
    rec = await support_gw.usage_for(reply.headers["x-request-id"])
    assert rec["status"] == 404 and rec["error_code"] == "base_url_mistake"
    assert rec["key_id"] == key_id and rec["masked_key"].startswith("sk-") and secret not in str(rec)
    assert rec["client"] == "cherry-studio" and rec["client_version"] == "1.9.6"
    assert rec["requested_model"] == "gpt-4o-mini" and rec["entry_path"] == "/v1/v1/chat/completions"
    assert rec["detail"] == {"mistake": "version_twice", "expected_path": "/v1/chat/completions"}
    assert prompt not in str(rec)

    unknown = "sk-" + "Q" * 44 + "wxyz"
    reply = await raw_request(support_gw.port, "POST", "/v1/chat/completions/chat/completions",
                              {"Authorization": f"Bearer {unknown}"}, body)
    rec = await support_gw.usage_for(reply.headers["x-request-id"])
    assert rec["key_id"] is None and rec["masked_key"] == "sk-QQQQ…wxyz"
    assert rec["error_code"] == "base_url_mistake" and rec["detail"]["mistake"] == "endpoint_twice"


async def test_browser_and_probe_homepage_hits_are_answered_but_not_counted(support_gw: Running) -> None:
    browser = await raw_request(support_gw.port, "GET", "/", {"User-Agent": "Mozilla/5.0 (X11; Linux) Firefox/130"})
    probe = await raw_request(support_gw.port, "GET", "/", {"User-Agent": "ELB-HealthChecker/2.0"})
    curl = await raw_request(support_gw.port, "GET", "/v1", {"User-Agent": "curl/8.5.0"})
    assert browser.status == probe.status == curl.status == 404
    ids = {r["request_id"] for r in await support_gw.usage_rows()}
    assert browser.headers["x-request-id"] not in ids and probe.headers["x-request-id"] not in ids
    assert (await support_gw.usage_for(curl.headers["x-request-id"]))["detail"]["mistake"] == "homepage"


async def test_unrecognised_paths_stay_plain_not_found_and_uncounted(support_gw: Running) -> None:
    for path in ("/favicon.ico", "/robots.txt", "/v1/chat/completions/chatcmpl-123", "/login"):
        reply = await raw_request(support_gw.port, "GET", path)
        assert reply.status == 404 and reply.json()["error"]["code"] == "not_found", path
        ids = {r["request_id"] for r in await support_gw.usage_rows()}
        assert reply.headers["x-request-id"] not in ids
