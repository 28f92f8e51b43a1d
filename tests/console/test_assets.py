"""The console's static files arrive whole: Content-Length is always the length of the body sent.

The browser test once saw ``net::ERR_CONTENT_LENGTH_MISMATCH``: Starlette's StaticFiles announced a
file's length, then failed to open it (the first request of a process imported anyio's file module
lazily, and that import raised), leaving a short body. The console now reads each file completely
before any header goes out; these checks fetch every file many times at once on a fresh process,
plain and gzip, and look at the raw bytes.
"""

from __future__ import annotations

import asyncio
import gzip
from pathlib import Path

import aiohttp
import pytest
from multidict import CIMultiDict

from relaygate.web.console.app import STATIC
from relaygate.web.console.assets import Assets
from tests.harness import running_gateway

FILES = sorted(p.relative_to(STATIC).as_posix() for p in STATIC.rglob("*") if p.is_file())


async def fetch(s: aiohttp.ClientSession, url: str, method: str = "GET",
                **headers: str) -> tuple[int, CIMultiDict[str], bytes]:
    async with s.request(method, url, headers=headers) as resp:
        return resp.status, CIMultiDict(resp.headers), await resp.read()


@pytest.mark.asyncio
async def test_every_static_file_is_sent_whole_plain_and_gzip(tmp_path: Path) -> None:
    assert "vendor/htmx.min.js" in FILES and "console.js" in FILES
    async with running_gateway(f"sqlite+aiosqlite:///{tmp_path}/rg.db", data_dir=str(tmp_path)) as gw:
        base = gw.root + "/console/static/"
        async with aiohttp.ClientSession(auto_decompress=False) as s:
            # a fresh process: the first loads of every file at once, as a browser opening a page does
            plain = [fetch(s, base + f, **{"Accept-Encoding": "identity"}) for f in FILES for _ in range(4)]
            packed = [fetch(s, base + f, **{"Accept-Encoding": "gzip, deflate, br"}) for f in FILES for _ in range(4)]
            results = await asyncio.gather(*plain, *packed)
            for (status, headers, body), name in zip(results, [f for f in FILES for _ in range(4)] * 2, strict=True):
                assert status == 200, name
                assert int(headers["Content-Length"]) == len(body), name
                if headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                assert body == (STATIC / name).read_bytes(), name
            assert any(h.get("Content-Encoding") == "gzip" for _, h, _ in results)  # the big ones are packed
            status, headers, body = await fetch(s, base + "vendor/uPlot.iife.min.js", "HEAD",
                                                **{"Accept-Encoding": "gzip"})
            assert status == 200 and body == b"" and int(headers["Content-Length"]) > 0
            assert headers["Content-Type"].startswith("text/javascript")
            etag = headers["ETag"]
            status, headers, body = await fetch(s, base + "vendor/uPlot.iife.min.js", **{"If-None-Match": etag})
            assert status == 304 and body == b""
            for bad in ("../app.py", "..%2Fapp.py", "nope.js", "vendor", ""):
                status, headers, body = await fetch(s, base + bad)
                assert status == 404 and int(headers["Content-Length"]) == len(body), bad
            status, _, _ = await fetch(s, base + "console.js", "POST")
            assert status == 405


async def call(app: Assets, path: str) -> tuple[int, dict[bytes, bytes], bytes]:
    sent: list[dict[str, object]] = []

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b""}

    await app({"type": "http", "method": "GET", "path": path, "headers": []}, receive, send)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    headers = dict(sent[0]["headers"])  # type: ignore[arg-type]
    return int(sent[0]["status"]), headers, bytes(sent[1]["body"])  # type: ignore[call-overload]


@pytest.mark.asyncio
async def test_a_file_is_read_completely_before_any_header_and_kept(tmp_path: Path) -> None:
    (tmp_path / "a.js").write_text("console.log(1);\n" * 200)
    (tmp_path / "dir.js").mkdir()  # a name that cannot be read as a file: 404, never a started 200
    app = Assets(tmp_path, "/s")
    status, headers, body = await call(app, "/s/a.js")
    assert status == 200 and int(headers[b"content-length"]) == len(body) == 16 * 200
    (tmp_path / "a.js").unlink()  # gone from disk (an upgrade under a running process): still sent whole
    status, headers, body = await call(app, "/s/a.js")
    assert status == 200 and int(headers[b"content-length"]) == len(body) == 16 * 200
    status, headers, body = await call(app, "/s/dir.js")
    assert status == 404 and int(headers[b"content-length"]) == len(body)
