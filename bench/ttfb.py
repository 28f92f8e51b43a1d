"""Time to the first byte of the answer, one request at a time (bench/large.sh, the agent scenarios).

Usage: ttfb.py URL KEY MODEL BODY_FILE DIALECT [N=200]
Prints ``ttfb_p50_ms=… ttfb_p90_ms=…``: from sending the request to the first byte of the body
(for a stream, its first event), measured on the client with a kept-alive connection.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time

import aiohttp
from drive import request  # bench/drive.py: the same body and headers as instructions.sh


async def main() -> None:
    url, key, model, body_file, dialect = sys.argv[1:6]
    n = int(sys.argv[6]) if len(sys.argv) > 6 else 200
    body, headers = request(model, body_file, dialect, False, key)
    times = []
    async with aiohttp.ClientSession() as session:
        for i in range(n + 10):
            t0 = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as resp:
                await resp.content.readany()
                first = time.perf_counter() - t0
                await resp.read()
            if resp.status != 200:
                sys.exit(f"HTTP {resp.status}")
            if i >= 10:  # the first ones warm the connection and caches
                times.append(first * 1000)
    times.sort()
    print(f"ttfb_p50_ms={statistics.median(times):.3f} ttfb_p90_ms={times[int(len(times) * 0.9)]:.3f}")


if __name__ == "__main__":
    asyncio.run(main())
