"""A big One API source for the scale test: many users, 100k tokens, 1M log rows, generated in batches.

Rows are generated and inserted a batch at a time, so building the source itself stays in bounded
memory. ``python -m tests.migration.bigsource DIR`` builds one under DIR for a manual run.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import string
import sys
import time
from collections.abc import Iterator
from typing import Any

from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import create_async_engine

from tests.migration.fixtures import DAY, oneapi_rows
from tests.migration.schemas import oneapi_logs_metadata, oneapi_metadata

BATCH = 20_000
_ALNUM = string.ascii_letters + string.digits


def _users(n: int, rnd: random.Random) -> Iterator[dict[str, Any]]:
    for uid in range(1, n + 1):
        yield {"id": uid, "username": f"user{uid:06d}", "password": "x", "display_name": f"User {uid}",
               "role": 100 if uid == 1 else 10 if uid % 500 == 0 else 1, "status": 2 if uid % 97 == 0 else 1,
               "quota": rnd.randint(-2_000_000, 50_000_000), "used_quota": rnd.randint(0, 10**9),
               "group": ("default", "vip", "svip")[uid % 3], "aff_code": f"A{uid:07d}",
               "access_token": f"{uid:032x}" if uid % 500 == 0 or uid == 1 else None}


def _tokens(n: int, users: int, now: int, rnd: random.Random) -> Iterator[dict[str, Any]]:
    for tid in range(1, n + 1):
        state = tid % 10
        yield {"id": tid, "user_id": rnd.randint(1, users), "key": "".join(rnd.choices(_ALNUM, k=48)),
               "status": 2 if state == 1 else 1, "name": f"token-{tid}", "created_time": now - 90 * DAY,
               "accessed_time": now - rnd.randint(0, 30) * DAY,
               "expired_time": now - DAY if state == 2 else (-1 if state < 6 else now + 30 * DAY),
               "remain_quota": 0 if state == 3 else rnd.randint(1, 10_000_000), "unlimited_quota": state in (4, 5),
               "used_quota": rnd.randint(0, 10**7), "models": "gpt-4o-mini,gpt-3.5-turbo" if state == 6 else "",
               "subnet": "10.0.0.0/8" if state == 7 else ""}


FAILURE = "渠道 openai-main 测试失败，错误：bad response status code 503"


def _logs(n: int, users: int, tokens: int, now: int, rnd: random.Random) -> Iterator[dict[str, Any]]:
    for i in range(1, n + 1):
        failed = i % 100 == 0
        uid = rnd.randint(1, users)
        yield {"id": i, "user_id": uid, "created_at": now - rnd.randint(0, 60 * DAY), "type": 5 if failed else 2,
               "content": FAILURE if failed else "模型倍率 0.075",
               "username": f"user{uid:06d}", "token_name": f"token-{rnd.randint(1, tokens)}",
               "model_name": "gpt-4o-mini", "quota": rnd.randint(1, 5000), "prompt_tokens": 1000,
               "completion_tokens": 300, "channel_id": 1, "request_id": "", "elapsed_time": 1200,
               "is_stream": bool(i % 2), "system_prompt_reset": False}


async def _fill(url: str, meta: MetaData, tables: dict[str, Iterator[dict[str, Any]] | list[dict[str, Any]]]) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        existing = MetaData()
        await conn.run_sync(existing.reflect)
        await conn.run_sync(existing.drop_all)
        await conn.run_sync(meta.create_all)
    for name, rows in tables.items():
        table = meta.tables[name]
        batch: list[dict[str, Any]] = []
        for row in itertools.chain(rows, [None]):
            if row is not None:
                batch.append(row)
            if batch and (row is None or len(batch) == BATCH):
                cols = set().union(*batch)
                async with engine.begin() as conn:
                    await conn.execute(table.insert(), [{c: r.get(c) for c in cols} for r in batch])
                batch = []
    await engine.dispose()


async def build_big(src_url: str, logs_url: str, *, users: int = 20_000, tokens: int = 100_000,
                    logs: int = 1_000_000, now: int | None = None) -> None:
    now = now or int(time.time())
    rnd = random.Random(42)
    small, _, _ = oneapi_rows(now)
    await _fill(src_url, oneapi_metadata(), {
        "users": _users(users, rnd), "tokens": _tokens(tokens, users, now, rnd),
        "channels": small["channels"], "options": small["options"]})
    await _fill(logs_url, oneapi_logs_metadata(), {"logs": _logs(logs, users, tokens, now, rnd)})


if __name__ == "__main__":
    folder = sys.argv[1]
    asyncio.run(build_big(f"sqlite+aiosqlite:///{folder}/one-api.db", f"sqlite+aiosqlite:///{folder}/logs.db"))
    print(json.dumps({"source": f"{folder}/one-api.db", "logs": f"{folder}/logs.db"}))
