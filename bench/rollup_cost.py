"""CPU time of the console's rollup cycle per usage record, the share of the relay it costs at a given rate.

    .venv/bin/python bench/rollup_cost.py [--records 90000]

bench/instructions.sh pushes the rollup cycle (every RELAYGATE_ROLLUP_SECONDS, 30) out of its window: under
valgrind a cycle would cover ~1,200 requests instead of the ~90,000 one worker serves in 30 s, and its
fixed cost would weigh 75 times too much. This measures it apart: N records (a 30-second cycle at 3,000
requests a second, by default) are written to a fresh SQLite database, then one ``Rollups.refresh()``
sums them; its CPU time (this process: event loop and SQLite thread) divided by N is the cost per
request, printed beside the share of one core it takes at 3,000 requests a second. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from relaygate.core.clock import now_ms
from relaygate.services.operate.rollups import Rollups
from relaygate.store import tables as t
from relaygate.store.db import make_engine, upgrade


async def main(records: int, rate: float) -> None:
    tmp = tempfile.mkdtemp()
    engine = make_engine(f"sqlite+aiosqlite:///{tmp}/rollup.db")
    await upgrade(engine)
    rng = random.Random(3)
    end = now_ms()
    rows = [{"request_id": f"req_cost{n:010d}", "ts": end - 30_000 + 30_000 * n // records,
             "key_id": f"key_{rng.randrange(200)}", "owner_id": f"own_{rng.randrange(200)}",
             "client": rng.choice(["openai-python", "cursor", "claude-code"]), "requested_model":
             rng.choice(["gpt-4o-mini", "gpt-4o", "claude-sonnet"]), "attempts": 1,
             "status": rng.choice([200] * 95 + [429, 500, 402, 401, 504]), "error_code": None,
             "prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150, "cached_tokens": 0,
             "stream": False, "latency_ms": rng.randrange(50, 3000), "ttft_ms": rng.randrange(20, 800),
             "estimated": False, "cost": 150_000, "route": "native"} for n in range(records)]
    for i in range(0, len(rows), 10_000):
        async with engine.begin() as conn:
            await conn.execute(t.usage_records.insert(), rows[i:i + 10_000])
    rollups = Rollups(engine)
    await rollups.refresh()  # the first cycle only sets the watermark of closed hours; count what it adds
    async with engine.begin() as conn:  # the next cycle's records
        await conn.execute(t.usage_records.insert(), [{**r, "request_id": r["request_id"] + "b"} for r in rows])
    cpu, wall = time.process_time(), time.perf_counter()
    added = await rollups.refresh()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    await engine.dispose()
    per = cpu / added * 1e6
    print(f"one rollup cycle over {added:,} records: {cpu * 1000:.0f} ms CPU ({wall * 1000:.0f} ms wall), "
          f"{per:.2f} us CPU per record; at {rate:,.0f} requests a second that is "
          f"{per * rate / 1e6 * 100:.2f}% of one core")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=90_000)
    parser.add_argument("--rate", type=float, default=3000.0, help="Requests a second one worker serves.")
    args = parser.parse_args()
    asyncio.run(main(args.records, args.rate))
