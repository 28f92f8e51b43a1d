"""What the usage spool costs one request: ``Spool.append`` of a realistic record, timed in a loop.

    .venv/bin/python bench/spool_cost.py [N]      # N appends (default 50,000) into a temp directory

Prints microseconds per append (orjson encoding + one write system call, wall clock, so the kernel's
share is in it) with and without ledger entries, and how many group-commit fdatasyncs a second of
that rate costs the sync thread. Compare with the time one request takes at the measured req/s
(bench/ab.sh base nospool) for the durability mechanism's share of non-stream throughput.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from relaygate.store.spool import Spool

RECORD = {
    "request_id": "req_1a2b3c4d5e6f7a8b9c0d1", "ts": 1796160000000, "key_id": "key_0123456789abcdef",
    "masked_key": "sk-abcd...wxyz", "owner_id": "own_0123456789abcdef", "group_name": "default",
    "environment": "production", "client": "openai-python", "client_version": "1.99.0",
    "entry_path": "/v1/chat/completions", "host": "127.0.0.1:8790", "requested_model": "bench-plain",
    "upstream_model": "gpt-4o-mini", "channel_id": 1, "attempts": 1, "status": 200, "error_code": None,
    "prompt_tokens": 12, "completion_tokens": 40, "total_tokens": 52, "cached_tokens": 0, "stream": False,
    "latency_ms": 3, "ttft_ms": None, "caller_ip": "127.0.0.1", "estimated": False, "cost": 344000,
    "detail": None, "body": None, "route": "native",
}
ENTRIES = [{"owner_id": "own_0123456789abcdef", "key_id": "key_0123456789abcdef", "kind": "settle",
            "amount": -344000, "held": 0, "request_id": "req_1a2b3c4d5e6f7a8b9c0d1", "model": "bench-plain",
            "reason": None, "actor": "gateway", "ref": None, "created_at": 1796160000000}]


def measure(n: int, with_entries: bool) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        spool = Spool(Path(tmp), "bench")
        spool.open()
        entries = ENTRIES if with_entries else None
        started = time.perf_counter()
        for _ in range(n):
            spool.append(RECORD, entries)
        elapsed = time.perf_counter() - started
        started = time.perf_counter()
        asyncio.run(spool.sync())
        sync_ms = (time.perf_counter() - started) * 1000
        spool.close(everything_stored=True)
    print(f"  last fdatasync after {n} lines: {sync_ms:.2f} ms (in the sync thread, not the event loop)")
    return elapsed / n * 1e6


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    plain = measure(n, False)
    priced = measure(n, True)
    print(f"spool append, record only:         {plain:.2f} us")
    print(f"spool append, record + settle row: {priced:.2f} us")
    for rps in (1000, 3000, 5000):
        print(f"  at {rps} req/s a request has {1e6 / rps:.0f} us: the spool is {priced / (1e6 / rps) * 100:.1f}% of it")


if __name__ == "__main__":
    main()
