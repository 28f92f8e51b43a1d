"""RSS per open stream: N slow streams held open through the gateway at once, then closed.

Usage: slow_streams.py GATEWAY_URL KEY GATEWAY_PID [N=1000] [HOLD_SECONDS=20] [AFTER_SECONDS=60]
(bench/slow_streams.sh runs it end to end; ROUNDS=2 repeats the burst to show its memory is reused)

It runs its own slow upstream on 127.0.0.1:9102 (``/stream/v1/chat/completions``: one chunk a
second for HOLD_SECONDS, then usage and [DONE]); point the gateway's ``bench-stream`` channel at
``http://127.0.0.1:9102/stream/v1`` (bench/setup_db.py DB http://127.0.0.1:9102 does). Prints the
gateway's RSS (VmRSS, its children included) at rest, with N streams open, just after they closed
and AFTER_SECONDS later, and the KB per open stream.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import aiohttp
import orjson
from aiohttp import web


def rss_kb(pid: int) -> int:
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def smaps(pid: int) -> str:
    """Where the RSS is (SMAPS=1): glibc's main heap, 1 MiB anonymous maps (CPython's object arenas), the
    other anonymous maps (thread arenas, large blocks, uvloop), and everything mapped from files."""
    sizes = {"heap": 0, "arenas": 0, "anon": 0, "files": 0}
    count = 0
    kind = "files"
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        parts = line.split()
        if "-" in parts[0] and not parts[0].endswith(":"):
            start, end = (int(x, 16) for x in parts[0].split("-"))
            name = parts[5] if len(parts) > 5 else ""
            kind = ("heap" if name == "[heap]" else "files" if name.startswith("/") else
                    "arenas" if end - start == 1 << 20 else "anon")
            count += kind == "arenas"
        elif parts[0] == "Rss:":
            sizes[kind] += int(parts[1])
    return " ".join(f"{k}={v // 1024}MB" for k, v in sizes.items()) + f" ({count} arena maps)"


def snap(pid: int) -> None:
    if os.environ.get("SMAPS"):
        print("smaps:", smaps(pid), flush=True)
    if os.environ.get("SNAPSHOT_SIGNAL"):
        os.kill(pid, signal.SIGUSR1)


def chunk(delta: dict[str, object]) -> bytes:
    return b"data: " + orjson.dumps({"id": "chatcmpl-slow", "object": "chat.completion.chunk", "created": 1,
                                     "model": "m", "choices": [{"index": 0, "delta": delta,
                                                                "finish_reason": None}]}) + b"\n\n"


async def slow(request: web.Request) -> web.StreamResponse:
    hold = float(request.app["hold"])
    await request.read()
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    await resp.write(chunk({"role": "assistant", "content": ""}))
    started = time.monotonic()
    while time.monotonic() - started < hold:
        await asyncio.sleep(1.0)
        await resp.write(chunk({"content": " tick"}))
    await resp.write(b"data: " + orjson.dumps({"id": "chatcmpl-slow", "object": "chat.completion.chunk",
                                               "created": 1, "model": "m", "choices": [],
                                               "usage": {"prompt_tokens": 10, "completion_tokens": 20,
                                                         "total_tokens": 30}}) + b"\n\ndata: [DONE]\n\n")
    await resp.write_eof()
    return resp


async def main() -> None:
    url, key, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
    hold = float(sys.argv[5]) if len(sys.argv) > 5 else 20
    after = float(sys.argv[6]) if len(sys.argv) > 6 else 60
    app = web.Application()
    app["hold"] = 2.0
    app.router.add_post("/stream/v1/chat/completions", slow)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 9102, backlog=4096).start()
    body = orjson.dumps({"model": "bench-stream", "stream": True, "max_tokens": 64,
                         "messages": [{"role": "user", "content": "tick for a while "
                                       + "x" * (1024 * int(os.environ.get("BODY_KB", "0")))}]})
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    opened = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                     timeout=aiohttp.ClientTimeout(total=None)) as session:
        async def one(first: asyncio.Event | None = None) -> int:
            nonlocal opened
            async with session.post(url, data=body, headers=headers) as resp:
                got = 0
                async for part in resp.content.iter_any():
                    if not got:
                        opened += 1
                    got += len(part)
                return resp.status

        await asyncio.gather(*(one() for _ in range(100)))  # warm: pools, caches, first-use allocations
        await asyncio.sleep(3)
        base = rss_kb(pid)
        snap(pid)  # SNAPSHOT_SIGNAL=1: the gateway dumps a tracemalloc snapshot (bench/slow_streams.sh)
        app["hold"] = hold
        rounds = []
        for _ in range(int(os.environ.get("ROUNDS", "1"))):  # ROUNDS=2: is the memory of a burst reused?
            opened = 0
            tasks = [asyncio.ensure_future(one()) for _ in range(n)]
            deadline = time.monotonic() + hold
            while opened < n and time.monotonic() < deadline:  # noqa: ASYNC110 (a poll with a deadline)
                await asyncio.sleep(0.2)
            await asyncio.sleep(1)
            peak_open, all_open = rss_kb(pid), opened
            snap(pid)
            statuses = await asyncio.gather(*tasks)
            closed = rss_kb(pid)
            if os.environ.get("TRIM_SIGNAL"):  # VARIANT=trim: the gateway collects and trims now
                os.kill(pid, signal.SIGUSR2)
            await asyncio.sleep(after)
            later = rss_kb(pid)
            snap(pid)
            rounds.append((all_open, peak_open, closed, later, sum(s != 200 for s in statuses)))
    await runner.cleanup()
    for all_open, peak_open, closed, later, bad in rounds:
        print(f"streams={n} open_at_once={all_open} non200={bad}")
        print(f"rss_base_kb={base} rss_open_kb={peak_open} rss_closed_kb={closed} rss_after_{after:.0f}s_kb={later}")
        print(f"kb_per_open_stream={(peak_open - base) / max(all_open, 1):.1f} "
              f"after_vs_base={100 * (later - base) / base:+.1f}%")


if __name__ == "__main__":
    asyncio.run(main())
