"""The floor: a bare Python pass-through, what Python itself can do on this machine.

uvicorn + uvloop + httptools in, one aiohttp client session out; no auth, no routing, no records,
no parsing. ``POST /anything`` is sent to ``UPSTREAM + /anything`` with the same body and its answer
streamed back chunk by chunk. bench/run.sh and bench/large.sh run it on the gateway's core so every
relaygate figure is also a ratio to this one.

Usage: .venv/bin/python bench/floor.py PORT [UPSTREAM, default http://127.0.0.1:9100]
"""

from __future__ import annotations

import sys
from typing import Any

import aiohttp
import uvicorn

UPSTREAM = (sys.argv[2] if len(sys.argv) > 2 else "http://127.0.0.1:9100").rstrip("/")
session: aiohttp.ClientSession | None = None


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    global session
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if session is not None:
                    await session.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    assert session is not None
    parts = []
    while True:
        message = await receive()
        parts.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = parts[0] if len(parts) == 1 else b"".join(parts)
    async with session.post(UPSTREAM + scope["path"], data=body,
                            headers={"Content-Type": "application/json"}) as resp:
        await send({"type": "http.response.start", "status": resp.status,
                    "headers": [(b"content-type", resp.headers.get("Content-Type", "application/json").encode())]})
        async for chunk in resp.content.iter_any():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), loop="uvloop", http="httptools",
                log_level="warning", access_log=False, lifespan="on")
