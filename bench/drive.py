"""Send N chat requests, C at a time, and check every answer was a 200 (used by bench/instructions.sh).

Usage: drive.py URL KEY MODEL N C
"""

from __future__ import annotations

import asyncio
import sys

import aiohttp
import orjson


async def drive(url: str, key: str, model: str, total: int, concurrency: int) -> int:
    body = orjson.dumps({"model": model, "max_tokens": 64, "messages": [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Say hello in one short sentence, please."}]})
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    failed = 0
    gate = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession() as session:
        async def one() -> None:
            nonlocal failed
            async with gate, session.post(url, data=body, headers=headers) as resp:
                await resp.read()
                failed += resp.status != 200

        await asyncio.gather(*(one() for _ in range(total)))
    return failed


def main() -> None:
    url, key, model, total, concurrency = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    failed = asyncio.run(drive(url, key, model, total, concurrency))
    if failed:
        sys.exit(f"{failed} of {total} requests did not answer 200")


if __name__ == "__main__":
    main()
