"""Without RELAYGATE_PUBLIC_BASE_URL the right base URL comes from the request: Host, and behind a trusted proxy
X-Forwarded-Proto / X-Forwarded-Host."""

from __future__ import annotations

from pathlib import Path

from tests.harness import Running, running_gateway
from tests.support.conftest import raw_request


async def test_base_url_from_the_host_header(gw: Running) -> None:
    reply = await raw_request(gw.port, "POST", "/v1/v1/chat/completions", {"Host": "llm.intra:8790"})
    hint = reply.json()["error"]["hint"]
    assert hint["base_url"] == "http://llm.intra:8790/v1"
    proxied = await raw_request(gw.port, "POST", "/v1/v1/chat/completions",
                                {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "ai.example.org"})
    # X-Forwarded-Host is not trusted without the setting (the scheme is uvicorn's own proxy handling, which
    # trusts loopback by default)
    assert proxied.json()["error"]["hint"]["base_url"].endswith("://127.0.0.1/v1")


async def test_forwarded_headers_behind_a_trusted_proxy(sqlite_url: str, tmp_path: Path) -> None:
    async with running_gateway(sqlite_url, data_dir=str(tmp_path), trust_forwarded_for=True) as gw:
        reply = await raw_request(gw.port, "GET", "/", {"X-Forwarded-Proto": "https",
                                                        "X-Forwarded-Host": "ai.example.org",
                                                        "User-Agent": "curl/8.5.0"})
    message = reply.json()["error"]["message"]
    assert "Set the base URL to https://ai.example.org/v1" in message and "take https://ai.example.org)" in message
