"""What the usage spool costs: per request (``Spool.append``) and per second (its timers), in CPU time.

    .venv/bin/python bench/spool_cost.py [N]      # N appends (default 50,000) into a temp directory

Prints, as CPU time of the whole process (user + kernel, every thread: ``time.process_time``):

- per request: one append of a realistic usage record (orjson encoding + one ``write`` system
  call), with and without its settle row;
- per second, whatever the request rate: the group commit (20 rounds of ``fdatasync`` in a thread),
  and the heartbeat with its sweep for dead processes' journals and stale holds (every 2 s, one
  small transaction on SQLite).

bench/instructions.sh counts the per-request part on the whole request path (same run with and
without the spool, timers out of the window); this script gives what to add per second.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from relaygate.services.gateway.recovery import Recovery
from relaygate.store.db import make_engine, upgrade
from relaygate.store.holds import beat
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
    """CPU microseconds per append."""
    with tempfile.TemporaryDirectory() as tmp:
        spool = Spool(Path(tmp), "bench")
        spool.open()
        entries = ENTRIES if with_entries else None
        started = time.process_time()
        for _ in range(n):
            spool.append(RECORD, entries)
        elapsed = time.process_time() - started
        spool.close(everything_stored=True)
    return elapsed / n * 1e6


async def sync_round_us(rounds: int = 200) -> float:
    """CPU microseconds of one group-commit round that has something to sync (the append excluded)."""
    with tempfile.TemporaryDirectory() as tmp:
        spool = Spool(Path(tmp), "bench")
        spool.open()
        appends = 0.0
        started = time.process_time()
        for _ in range(rounds):
            t0 = time.process_time()
            spool.append(RECORD, ENTRIES)
            appends += time.process_time() - t0
            await spool.sync()
        elapsed = time.process_time() - started - appends
        spool.close(everything_stored=True)
    return elapsed / rounds * 1e6


async def heartbeat_us(rounds: int = 100) -> float:
    """CPU microseconds of one heartbeat and sweep (no dead process, no stale hold: the steady state)."""
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite+aiosqlite:///{tmp}/bench.db")
        try:
            await upgrade(engine)
            spool = Spool(Path(tmp) / "spool", "bench")
            spool.open()
            recovery = Recovery(engine, spool, heartbeat_seconds=2, stale_seconds=15)
            await recovery.start()
            started = time.process_time()
            for _ in range(rounds):
                async with engine.begin() as conn:
                    await beat(conn, spool.instance)
                await recovery.sweep()
            elapsed = time.process_time() - started
            spool.close(everything_stored=True)
        finally:
            await engine.dispose()
    return elapsed / rounds * 1e6


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    plain = measure(n, False)
    priced = measure(n, True)
    sync = asyncio.run(sync_round_us())
    beat = asyncio.run(heartbeat_us())
    per_second = 20 * sync + beat / 2
    print(f"per request, spool append, record only:         {plain:.2f} us CPU")
    print(f"per request, spool append, record + settle row: {priced:.2f} us CPU")
    print(f"per second, 20 group-commit rounds of {sync:.0f} us: {20 * sync / 1000:.2f} ms CPU")
    print(f"per second, half a heartbeat + sweep of {beat:.0f} us: {beat / 2000:.2f} ms CPU")
    for rps in (100, 1000, 3000):
        print(f"  at {rps} req/s the per-second part adds {per_second / rps:.2f} us a request")


if __name__ == "__main__":
    main()
