"""Fixtures for the support tests: one gateway per module on real sockets, and a raw HTTP client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import pytest_asyncio

from tests.harness import Running, running_gateway

PUBLIC = "https://ai.example.com/v1"
DOCS = "https://docs.example.com/relaygate"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)


async def raw_request(port: int, method: str, path: str, headers: dict[str, str] | None = None,
                      body: bytes = b"") -> Reply:
    """Send exactly this request line (no client-side path normalisation: '//' and trailing '/' survive)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close",
             f"Content-Length: {len(body)}"]
    if body:
        lines.append("Content-Type: application/json")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    await writer.drain()
    raw = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, rest = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    return Reply(int(status_line.split()[1]), parsed, rest)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def support_gw(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Running]:
    """A gateway whose public base URL and docs URL are set, shared by the tests of one module."""
    tmp: Path = tmp_path_factory.mktemp("support")
    async with running_gateway(f"sqlite+aiosqlite:///{tmp}/relaygate.db", data_dir=str(tmp),
                               public_base_url=PUBLIC, docs_url=DOCS) as running:
        yield running
