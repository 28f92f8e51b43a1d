"""Console page latency on a database with many usage records (default 1,000,000), SQLite.

    .venv/bin/python bench/console_pages.py --records 1000000 [--db /tmp/console-bench]

Seeds owners, keys and usage records spread over 30 days (bulk inserts; a tenth of the owners in a
rollout batch switched 10 days ago, so a tenth of their traffic before it went to the old entry), builds
the hourly rollups once (as the background task would), starts the gateway on a real socket, signs in,
and times each page (median and p95 of 20 loads) as a browser waits: request sent to last byte read;
the CPU column is the process's CPU time per load (server, database thread and this client), the figure
to trust on a busy shared host.
Prints a Markdown table for docs/benchmarks.md. With --db the seeded database is kept in that folder
and reused by the next run. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.console.helpers import Browser, add_operators
from tests.harness import running_gateway

from relaygate.core.clock import now_ms
from relaygate.services.operate.rollups import Rollups
from relaygate.store import tables as t

MODELS = ["gpt-4o-mini", "gpt-4o", "claude-sonnet", "deepseek-chat", "qwen-max"]
STATUSES = [200] * 90 + [401, 402, 404, 429, 500, 504, 400, 403, 200, 200]


async def seed(gw: object, records: int) -> str:
    running = gw  # tests.harness.Running
    owners = [f"owner{i}" for i in range(200)]
    keys = []
    for i, owner in enumerate(owners):
        _, key_id = await running.add_key(owner, name=f"k{i}")  # type: ignore[attr-defined]
        keys.append((key_id, owner))
    owner_ids = {o["name"]: o["id"] for o in await running.gateway.accounts.list_owners()}  # type: ignore[attr-defined]
    engine = running.gateway.engine  # type: ignore[attr-defined]
    end = now_ms()
    start = end - 30 * 86_400_000
    switched = end - 10 * 86_400_000
    pilot = set(owners[:20])
    rng = random.Random(7)
    rid = ""
    batch = []
    for n in range(records):
        key_id, owner = keys[rng.randrange(len(keys))]
        status = STATUSES[rng.randrange(len(STATUSES))]
        rid = f"req_bench{n:012d}"
        ts = start + (end - start) * n // records
        route = "legacy" if owner in pilot and ts < switched else "native"
        batch.append({"request_id": rid, "ts": ts, "key_id": key_id,
                      "masked_key": "sk-abcd…wxyz", "owner_id": owner_ids[owner], "group_name": "default",
                      "client": rng.choice(["openai-python", "cursor", "cherry-studio", "claude-code"]),
                      "requested_model": rng.choice(MODELS), "upstream_model": "m", "channel_id": 1,
                      "attempts": 1, "status": status, "error_code": None if status == 200 else "upstream_error",
                      "prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150, "cached_tokens": 0,
                      "stream": False, "latency_ms": rng.randrange(50, 3000), "ttft_ms": rng.randrange(20, 800),
                      "estimated": False, "cost": 150_000, "route": route})
        if len(batch) == 20_000:
            async with engine.begin() as conn:
                await conn.execute(t.usage_records.insert(), batch)
            batch = []
    if batch:
        async with engine.begin() as conn:
            await conn.execute(t.usage_records.insert(), batch)
    rollups = Rollups(engine)
    while await rollups.refresh() >= rollups.PER_CYCLE:  # back-fill every record
        pass
    async with engine.begin() as conn:  # an installation imported from One API: every key came from there
        await conn.execute(t.api_keys.update().values(source="oneapi"))
    rollout = running.gateway.rollout  # type: ignore[attr-defined]
    await rollout.planner.set_legacy("bench", base_url="http://127.0.0.1:9")
    await rollout.planner.plan("pilot", "bench", owners=sorted(pilot), conditions=["5xx>+2%"])
    await rollout.mover.switch("pilot", "bench", "benchmark", handover=False)
    return rid


async def main(records: int, loads: int, folder: str | None) -> None:
    tmp = folder or tempfile.mkdtemp()
    Path(tmp).mkdir(parents=True, exist_ok=True)
    seeded = Path(tmp, "seeded").exists()
    async with running_gateway(f"sqlite+aiosqlite:///{tmp}/bench.db", data_dir=tmp, rollup_seconds=3600) as gw:
        if seeded:
            rid = Path(tmp, "seeded").read_text().strip()
        else:
            t0 = time.perf_counter()
            rid = await seed(gw, records)
            print(f"seeded {records} records and rollups in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
            await add_operators(gw)
            Path(tmp, "seeded").write_text(rid)
        key = (await gw.gateway.accounts.list_keys())[0]["id"]
        owner = (await gw.gateway.accounts.list_owners())[0]["id"]
        pages = {"overview 24h": "/console/", "overview 30d": "/console/?range=30d",
                 "usage (newest 50)": "/console/usage", "usage, key filter": f"/console/usage?key={key}",
                 "usage, errors of a key": f"/console/usage?key={key}&errors=1",
                 "request page": f"/console/requests/{rid}", "key page": f"/console/keys/{key}",
                 "support diagnose": f"/console/support?q={rid}&reply=en", "keys": "/console/keys",
                 "balances": "/console/balances", "audit": "/console/audit",
                 "statement (owner, 30d)": f"/console/balances/{owner}",
                 "rollout": "/console/rollout", "batch": "/console/rollout/pilot",
                 "rollout before/after": "/console/rollout/report", "migration": "/console/migration",
                 "notices": "/console/migration/notices"}
        async with Browser(gw) as b:
            await b.sign_in("ada")
            print(f"| page ({records:,} usage records) | median ms | p95 ms | CPU ms |\n|---|---:|---:|---:|")
            for name, path in pages.items():
                times, cpu = [], []
                for _ in range(loads):
                    t1, c1 = time.perf_counter(), time.process_time()
                    status, _ = await b.get(path)
                    times.append((time.perf_counter() - t1) * 1000)
                    cpu.append((time.process_time() - c1) * 1000)  # server, its database thread and the client
                    assert status == 200, (path, status)
                times.sort()
                print(f"| {name} | {statistics.median(times):.1f} | {times[int(len(times) * 0.95) - 1]:.1f} "
                      f"| {statistics.median(cpu):.1f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--loads", type=int, default=20)
    parser.add_argument("--db", default=None, help="Keep the seeded database in this folder and reuse it.")
    args = parser.parse_args()
    asyncio.run(main(args.records, args.loads, args.db))
