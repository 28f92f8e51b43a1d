"""Hourly rollups: every record counted once, across cycles and racing workers; late commits taken in
when a closed hour is rebuilt; the overview reads the same figures."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, select

from relaygate.services.operate.rollups import (
    DAY,
    HOUR,
    LATENCY_BUCKETS_MS,
    Rollups,
    _bucket,
    error_class,
    percentile,
    segments,
)
from relaygate.store import tables as t
from relaygate.store.db import make_engine, upgrade

NOW = 1_800_000_000_000 // HOUR * HOUR + 30 * 60_000  # half past some hour


def record(n: int, ts: int, status: int = 200, code: str | None = None, **kw: Any) -> dict[str, Any]:
    return {"request_id": f"req_r{n:08d}", "ts": ts, "key_id": "key_a", "owner_id": "own_a", "client": "curl",
            "requested_model": "m", "attempts": 1, "status": status, "error_code": code, "prompt_tokens": 10,
            "completion_tokens": 5, "total_tokens": 15, "cached_tokens": 0, "stream": False,
            "latency_ms": 120, "ttft_ms": 40, "estimated": False, "cost": 1000, **kw}


async def totals(engine: Any, span: str = "h") -> tuple[int, int]:
    """What the hour rows (or the day rows) hold in all; the key dimension's rows must agree."""
    R, D = t.usage_rollup, t.usage_rollup_dims
    async with engine.connect() as conn:
        row = (await conn.execute(select(func.sum(R.c.requests), func.sum(R.c.cost)).where(R.c.span == span))).one()
        dims = (await conn.execute(select(func.sum(D.c.requests), func.sum(D.c.cost))
                                   .where(D.c.span == span, D.c.dim == "key"))).one()
    assert tuple(dims) == tuple(row)
    return int(row[0] or 0), int(row[1] or 0)


async def test_each_record_counted_once_and_late_commits_taken_in(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    await upgrade(engine)
    try:
        prev = NOW - HOUR
        async with engine.begin() as conn:
            await conn.execute(t.usage_records.insert(), [record(i, prev + i * 1000) for i in range(10)] +
                               [record(100 + i, NOW - 60_000, 402, "insufficient_balance") for i in range(3)])
        roll = Rollups(engine)
        await asyncio.gather(roll.refresh(NOW), Rollups(engine).refresh(NOW))  # two workers at once
        await roll.refresh(NOW)
        assert await totals(engine) == (13, 13_000)
        # a record with an id below the watermark, committed late (as a concurrent writer may)
        async with engine.begin() as conn:
            await conn.execute(t.usage_records.insert().values(id=0, **record(999, NOW - 5)))
        await roll.refresh(NOW)
        assert await totals(engine) == (13, 13_000)  # the open hour is not rebuilt yet
        await roll.refresh(NOW + HOUR)  # an hour later, the previous hour is closed and rebuilt once
        assert await totals(engine) == (14, 14_000)
        await roll.refresh(NOW + HOUR)
        assert await totals(engine) == (14, 14_000)
        assert await totals(engine, "d") == (14, 14_000)  # the day was summed again from its hours
        view = await roll.overview(NOW - 2 * HOUR, NOW + HOUR, "hour")
        assert view["totals"]["requests"] == 14 and view["totals"]["errors"] == 3
        classes = sum(p["classes"]["402"] for p in view["points"])
        assert classes == 3 and view["p50"] == 200  # 120 ms falls in the 100-200 ms bucket
        assert view["top"]["key_id"] == [{"name": "key_a", "requests": 14, "cost": 14_000, "errors": 3}]
        days = await roll.overview(NOW - 3 * DAY, NOW + HOUR, "day")  # whole days and edge hours, same sums
        assert days["totals"] == view["totals"] and days["top"] == view["top"]
        assert sum(p["requests"] for p in days["points"]) == 14
        assert await roll.totals_of("key", "key_a", NOW - 3 * DAY, NOW + HOUR) == {
            "requests": 14, "errors": 3, "tokens": 14 * 15, "cost": 14_000}
        assert (await roll.totals_of("key", "key_a", NOW + HOUR, NOW + 2 * HOUR))["requests"] == 0
        assert await roll.totals(NOW - 3 * DAY, NOW + HOUR) == {"requests": 14, "errors": 3}
    finally:
        await engine.dispose()


def test_error_classes_and_percentiles() -> None:
    assert error_class(200, None) == "ok"
    assert error_class(504, "upstream_timeout") == "timeout"
    assert error_class(404, "model_not_found") == "404"
    assert error_class(503, "upstream_error") == "5xx"
    assert error_class(400, "bad_request") == "4xx"
    assert percentile([0, 0, 0], 0.5) is None
    assert percentile([1, 1, 0, 8], 0.95) == 200


def test_a_range_reads_whole_days_and_the_hours_at_its_ends() -> None:
    day0 = 20_000 * DAY
    assert segments(day0 + 5 * HOUR, day0 + 20 * HOUR) == [("h", day0 + 5 * HOUR, day0 + 20 * HOUR)]
    assert segments(day0 + 5 * HOUR, day0 + 2 * DAY + 3 * HOUR) == [
        ("h", day0 + 5 * HOUR, day0 + DAY), ("d", day0 + DAY, day0 + 2 * DAY),
        ("h", day0 + 2 * DAY, day0 + 2 * DAY + 3 * HOUR)]
    assert segments(day0, day0 + 3 * DAY) == [("d", day0, day0 + 3 * DAY)]
    assert segments(day0, day0) == []


async def test_the_database_sums_as_error_class_and_the_buckets_do(backend_url: str) -> None:
    """The rollups are summed by the database (one SQL per kind of sum, not a Python loop per record): on
    each backend they must agree with ``error_class`` and the latency buckets record by record."""
    engine = make_engine(backend_url)
    await upgrade(engine)
    statuses = (200, 302, 400, 401, 402, 403, 404, 408, 429, 500, 503, 504)
    codes = (None, "", "upstream_timeout", "bad_request")
    latencies = (0, 25, 26, 50, 51, 999, 1000, 300_000, 400_000)
    rows, n = [], 0
    for status in statuses:
        for code in codes:
            for latency in latencies:
                rows.append(record(n, NOW - HOUR + n, status, code, latency_ms=latency,
                                   ttft_ms=None if n % 3 else latency // 2))
                n += 1
    try:
        async with engine.begin() as conn:
            await conn.execute(t.usage_records.insert(), rows)
        await Rollups(engine).refresh(NOW)
        want: dict[str, list[Any]] = {}
        for r in rows:
            cell = want.setdefault(error_class(r["status"], r["error_code"]),
                                   [0, [0] * (len(LATENCY_BUCKETS_MS) + 1), [0] * (len(LATENCY_BUCKETS_MS) + 1)])
            cell[0] += 1
            cell[1][_bucket(r["latency_ms"])] += 1
            if r["ttft_ms"] is not None:
                cell[2][_bucket(r["ttft_ms"])] += 1
        R = t.usage_rollup
        async with engine.connect() as conn:
            got = {r.klass: [int(r.requests), list(r.latency_hist), list(r.ttft_hist)] for r in
                   await conn.execute(select(R).where(R.c.span == "h"))}
            errors = (await conn.execute(select(func.sum(t.usage_rollup_dims.c.errors)).where(
                t.usage_rollup_dims.c.span == "d", t.usage_rollup_dims.c.dim == "model"))).scalar()
        assert got == want
        assert int(errors) == sum(c[0] for k, c in want.items() if k != "ok")
    finally:
        await engine.dispose()
