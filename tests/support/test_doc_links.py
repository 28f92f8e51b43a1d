"""Error bodies link to their page when RELAYGATE_DOCS_URL is set, and carry no link when it is not."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from tests.harness import Running, running_gateway

DOCS = Path(__file__).resolve().parents[2] / "docs"


async def errors_of(root: str) -> list[dict[str, object]]:
    out = []
    async with aiohttp.ClientSession() as s:
        for headers, path in (({}, "/v1/chat/completions"),
                              ({"Authorization": "Bearer sk-" + "x" * 48}, "/v1/chat/completions"),
                              ({}, "/v1/v1/chat/completions"), ({}, "/nothing-here")):
            async with s.post(root + path, json={"model": "m", "messages": []}, headers=headers) as resp:
                out.append((await resp.json())["error"])
    return out


async def test_doc_url_on_every_openai_error_when_set(sqlite_url: str, tmp_path: Path) -> None:
    async with running_gateway(sqlite_url, data_dir=str(tmp_path),
                               docs_url="https://docs.example.com/relaygate/") as gw:
        errors = await errors_of(gw.root)
    assert [e["code"] for e in errors] == ["missing_api_key", "invalid_api_key", "base_url_mistake", "not_found"]
    for err in errors:
        assert err["doc_url"] == f"https://docs.example.com/relaygate/errors/{err['code']}"
        assert (DOCS / "errors" / f"{err['code']}.md").is_file(), "the link points at a page that exists"


async def test_no_doc_url_without_the_setting(gw: Running) -> None:
    for err in await errors_of(gw.root):
        assert "doc_url" not in err
