"""Send N requests, C at a time, and check every answer was a 200 (used by bench/instructions.sh).

Usage: drive.py URL KEY MODEL N C [BODY_FILE [DIALECT [STREAM]]]

Without BODY_FILE a small chat body is sent; with it, the file's bytes (``MODEL_NAME`` replaced by
MODEL, as bench/body.lua does) with the DIALECT's auth headers (openai or anthropic); STREAM=1 asks
for a stream when the body does not already. Streamed answers are read to their end.
"""

from __future__ import annotations

import asyncio
import sys

import aiohttp
import orjson


def request(model: str, body_file: str | None, dialect: str, stream: bool, key: str) -> tuple[bytes, dict[str, str]]:
    if body_file is None:
        body = orjson.dumps({"model": model, "max_tokens": 64, "stream": stream, "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Say hello in one short sentence, please."}]})
    else:
        with open(body_file, "rb") as fh:
            body = fh.read().replace(b"MODEL_NAME", model.encode(), 1)
        if stream and b'"stream":true' not in body:
            body = b'{"stream":true,' + body.lstrip()[1:]
    headers = {"Content-Type": "application/json"}
    if dialect == "anthropic":
        headers.update({"x-api-key": key, "anthropic-version": "2023-06-01"})
    else:
        headers["Authorization"] = f"Bearer {key}"
    return body, headers


async def drive(url: str, key: str, model: str, total: int, concurrency: int, body_file: str | None = None,
                dialect: str = "openai", stream: bool = False) -> int:
    body, headers = request(model, body_file, dialect, stream, key)
    failed = 0
    gate = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        async def one() -> None:
            nonlocal failed
            async with gate, session.post(url, data=body, headers=headers) as resp:
                await resp.read()
                failed += resp.status != 200

        await asyncio.gather(*(one() for _ in range(total)))
    return failed


def main() -> None:
    url, key, model, total, concurrency = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    body_file = sys.argv[6] if len(sys.argv) > 6 and sys.argv[6] else None
    dialect = sys.argv[7] if len(sys.argv) > 7 else "openai"
    stream = len(sys.argv) > 8 and sys.argv[8] == "1"
    failed = asyncio.run(drive(url, key, model, total, concurrency, body_file, dialect, stream))
    if failed:
        sys.exit(f"{failed} of {total} requests did not answer 200")


if __name__ == "__main__":
    main()
