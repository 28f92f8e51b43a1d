"""The console's vendored files (CSS, JS, icons, Swagger UI), served whole from memory.

Starlette's ``StaticFiles`` sends the status line and ``Content-Length`` first and opens the file after;
anything that fails in between (here: the first request of a process lazily importing anyio's file
module, which raised) leaves the browser a response shorter than announced, reported as
``net::ERR_CONTENT_LENGTH_MISMATCH``. This app reads a file once, completely, before a single header
goes out, and keeps it (the whole folder is about 2 MB): every answer's ``Content-Length`` is the length
of the bytes sent with it, in one message. A gzip form is kept beside files worth compressing, with
``Vary: Accept-Encoding``; ``ETag`` and ``If-None-Match`` spare a browser the download.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from relaygate.web.asgi_types import Receive, Scope, Send

TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".svg": "image/svg+xml", ".png": "image/png", ".json": "application/json"}
COMPRESS = (".js", ".css", ".svg", ".json")
MIN_GZIP = 1024


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    gzipped: bytes | None
    content_type: str
    etag: str


def load(path: Path) -> Asset:
    """Read and prepare one file (in a worker thread: compressing the Swagger UI bundle takes tens of milliseconds)."""
    body = path.read_bytes()
    ctype = TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    packed = gzip.compress(body, 6, mtime=0) if path.suffix in COMPRESS and len(body) >= MIN_GZIP else None
    if packed is not None and len(packed) >= len(body):
        packed = None
    return Asset(body, packed, ctype, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


class Assets:
    """ASGI app for ``prefix``/<relative path> under ``folder``: GET and HEAD, 404 for anything outside it."""

    def __init__(self, folder: Path, prefix: str) -> None:
        self.folder = folder.resolve()
        self.prefix = prefix.rstrip("/") + "/"
        self.cache: dict[str, Asset] = {}
        self.lock = asyncio.Lock()

    async def get(self, rel: str) -> Asset | None:
        asset = self.cache.get(rel)
        if asset is not None:
            return asset
        path = (self.folder / rel).resolve()
        if not rel or not path.is_relative_to(self.folder) or not path.is_file():
            return None
        async with self.lock:  # one reader per file, however many tabs ask for it at once
            asset = self.cache.get(rel)
            if asset is None:
                try:
                    asset = await asyncio.to_thread(load, path)
                except OSError:
                    return None
                self.cache[rel] = asset
        return asset

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope["method"]
        path: str = scope["path"]
        rel = path[len(self.prefix):] if path.startswith(self.prefix) else ""
        asset = await self.get(rel) if method in ("GET", "HEAD") and "\\" not in rel else None
        if asset is None:
            status = 405 if method not in ("GET", "HEAD") else 404
            await _whole(send, status, [(b"content-type", b"text/plain; charset=utf-8")],
                         b"Not found.\n" if status == 404 else b"Method not allowed.\n", method == "HEAD")
            return
        headers = [(b"etag", asset.etag.encode()), (b"vary", b"Accept-Encoding")]
        if _header(scope, b"if-none-match") == asset.etag.encode():
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        body = asset.body
        if asset.gzipped is not None and b"gzip" in _header(scope, b"accept-encoding"):
            body = asset.gzipped
            headers.append((b"content-encoding", b"gzip"))
        headers.append((b"content-type", asset.content_type.encode()))
        await _whole(send, 200, headers, body, method == "HEAD")


async def _whole(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes, head: bool) -> None:
    """The status, a Content-Length that is the body's own length, and the body, in one message."""
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


def _header(scope: Scope, name: bytes) -> bytes:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return b""
