"""Hourly usage rollups for the overview charts, kept current off the request path by a background task.

Pages read ``usage_hourly`` only, so a chart over a month reads a few thousand small groups whatever
the record count. Latency and time to first token are kept as histograms so p50/p95 can be read for
any range. How the table is kept: see ``Rollups``.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from collections import defaultdict
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.clock import now_ms
from relaygate.store import tables as t
from relaygate.store.db import get_meta, set_meta

log = logging.getLogger("relaygate.rollups")
HOUR = 3_600_000
LATENCY_BUCKETS_MS = (25, 50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 7500, 10_000, 15_000,
                      20_000, 30_000, 60_000, 120_000, 300_000)
CLASSES = ("ok", "401", "402", "403", "404", "429", "timeout", "5xx", "4xx")
U = t.usage_records
H = t.usage_hourly


def error_class(status: int, error_code: str | None) -> str:
    """The error classes the overview, `relaygate stats` and the rollout guard speak of."""
    code = error_code or ""
    if "timeout" in code or status in (408, 504):
        return "timeout"
    if status < 400 and not code:
        return "ok"
    if status in (401, 402, 403, 404, 429):
        return str(status)
    if status >= 500:
        return "5xx"
    return "4xx" if status >= 400 else "ok"


def _bucket(ms: int) -> int:
    return bisect.bisect_left(LATENCY_BUCKETS_MS, ms)


def percentile(hist: list[int], q: float) -> int | None:
    """Upper edge of the bucket holding the q-th quantile (the last bucket: its lower edge)."""
    total = sum(hist)
    if not total:
        return None
    target = q * total
    seen = 0
    for i, count in enumerate(hist):
        seen += count
        if seen >= target:
            return LATENCY_BUCKETS_MS[i] if i < len(LATENCY_BUCKETS_MS) else LATENCY_BUCKETS_MS[-1]
    return LATENCY_BUCKETS_MS[-1]


def _empty_hist() -> list[int]:
    return [0] * (len(LATENCY_BUCKETS_MS) + 1)


class Rollups:
    """Keeps ``usage_hourly`` current: each record is read about twice in its life, never per page view.

    Each cycle adds the records past ``meta.rollup_last_id`` (in id order, ``CHUNK`` at a time) to their
    hours; a closed hour is rebuilt once from ``usage_records`` (up to the same id) a few minutes after it
    ends, which takes in records a concurrent writer committed out of id order. The watermark moves by
    compare-and-set in the same transaction as the sums, so two workers never add a record twice.
    """

    CHUNK = 20_000
    PER_CYCLE = 200_000
    SETTLE_MS = 5 * 60_000

    def __init__(self, engine: AsyncEngine, interval: float = 30.0) -> None:
        self.engine = engine
        self.interval = interval

    @staticmethod
    def _add(cells: dict[tuple[Any, ...], dict[str, Any]], r: Any) -> None:
        cell_key = (r.ts // HOUR * HOUR, r.requested_model, r.owner_id, r.key_id, r.client,
                    error_class(r.status, r.error_code))
        cell = cells.get(cell_key)
        if cell is None:
            cell = cells[cell_key] = {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost": 0,
                                      "latency_hist": _empty_hist(), "ttft_hist": _empty_hist()}
        cell["requests"] += 1
        cell["prompt_tokens"] += r.prompt_tokens or 0
        cell["completion_tokens"] += r.completion_tokens or 0
        cell["cost"] += r.cost or 0
        cell["latency_hist"][_bucket(r.latency_ms or 0)] += 1
        if r.ttft_ms is not None:
            cell["ttft_hist"][_bucket(r.ttft_ms)] += 1

    _COLUMNS = (U.c.id, U.c.ts, U.c.requested_model, U.c.owner_id, U.c.key_id, U.c.client, U.c.status,
                U.c.error_code, U.c.prompt_tokens, U.c.completion_tokens, U.c.cost, U.c.latency_ms, U.c.ttft_ms)

    async def _merge(self, conn: Any, cells: dict[tuple[Any, ...], dict[str, Any]], replace: bool) -> None:
        hours = sorted({k[0] for k in cells})
        existing: dict[tuple[Any, ...], Any] = {}
        if hours and not replace:
            for r in (await conn.execute(select(H).where(H.c.hour.in_(hours)))).all():
                existing[(r.hour, r.model, r.owner_id, r.key_id, r.client, r.klass)] = r
        inserts = []
        for k, v in cells.items():
            old = existing.get(k)
            if old is None:
                inserts.append({"hour": k[0], "model": k[1], "owner_id": k[2], "key_id": k[3], "client": k[4],
                                "klass": k[5], **v})
                continue
            await conn.execute(H.update().where(H.c.id == old.id).values(
                requests=old.requests + v["requests"], prompt_tokens=old.prompt_tokens + v["prompt_tokens"],
                completion_tokens=old.completion_tokens + v["completion_tokens"], cost=old.cost + v["cost"],
                latency_hist=[a + b for a, b in zip(old.latency_hist, v["latency_hist"], strict=False)],
                ttft_hist=[a + b for a, b in zip(old.ttft_hist, v["ttft_hist"], strict=False)]))
        for i in range(0, len(inserts), 500):
            await conn.execute(H.insert(), inserts[i:i + 500])

    async def _cas(self, conn: Any, key: str, old: str | None, new: str) -> bool:
        if old is None:
            try:
                async with conn.begin_nested():
                    await conn.execute(t.meta.insert().values(key=key, value=new))
                return True
            except Exception:  # another worker created it first
                return False
        done = await conn.execute(t.meta.update().where(t.meta.c.key == key, t.meta.c.value == old)
                                  .values(value=new))
        return bool(done.rowcount)

    async def step(self) -> int:
        """Add the next chunk of new records; returns how many were added (0: caught up, or lost a race)."""
        async with self.engine.connect() as conn:
            last_text = await get_meta(conn, "rollup_last_id")
            last = int(last_text or 0)
            rows = (await conn.execute(select(*self._COLUMNS).where(U.c.id > last).order_by(U.c.id)
                                       .limit(self.CHUNK))).all()
        if not rows:
            return 0
        cells: dict[tuple[Any, ...], dict[str, Any]] = {}
        for r in rows:
            self._add(cells, r)
        async with self.engine.begin() as conn:
            if not await self._cas(conn, "rollup_last_id", last_text, str(rows[-1].id)):
                await conn.rollback()
                return 0
            await self._merge(conn, cells, replace=False)
        return len(rows)

    async def rebuild_hour(self, hour: int, up_to_id: int) -> None:
        """The hour again from its records (ids up to the watermark; later ones come incrementally)."""
        cells: dict[tuple[Any, ...], dict[str, Any]] = {}
        async with self.engine.connect() as conn:
            result = await conn.stream(select(*self._COLUMNS).where(U.c.ts >= hour, U.c.ts < hour + HOUR,
                                                                    U.c.id <= up_to_id))
            async for r in result:
                self._add(cells, r)
        async with self.engine.begin() as conn:
            # holds the watermark row (a concurrent step() waits) and checks it did not move meanwhile
            if not await self._cas(conn, "rollup_last_id", str(up_to_id), str(up_to_id)):
                await conn.rollback()
                return
            await conn.execute(delete(H).where(H.c.hour == hour))
            await self._merge(conn, cells, replace=True)
            await set_meta(conn, "rollup_final_until", str(hour + HOUR))

    async def refresh(self, now: int | None = None) -> int:
        """One cycle: new records first, then any closed hour not yet rebuilt. Returns records added."""
        now = now or now_ms()
        added = 0
        while added < self.PER_CYCLE:
            n = await self.step()
            added += n
            if n < self.CHUNK:
                break
        async with self.engine.connect() as conn:
            final = await get_meta(conn, "rollup_final_until")
            last = int(await get_meta(conn, "rollup_last_id") or 0)
        now_hour = now // HOUR * HOUR
        if final is None:  # first run: everything so far came in through step(), in id order
            async with self.engine.begin() as conn:
                await self._cas(conn, "rollup_final_until", None, str(now_hour - HOUR))
        else:
            hour = int(final)
            if hour + HOUR + self.SETTLE_MS <= now and added < self.PER_CYCLE and last:
                await self.rebuild_hour(hour, last)
        async with self.engine.begin() as conn:
            await set_meta(conn, "rollup_refreshed_at", str(now_ms()))
        return added

    async def run(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception as exc:  # the charts lag; the next cycle tries again
                log.warning("usage rollup failed: %s", type(exc).__name__)
            await asyncio.sleep(self.interval)

    async def overview(self, since: int, until: int, step: str = "hour") -> dict[str, Any]:
        """Series per hour or day and the top lists, all from the rollups."""
        size = HOUR if step == "hour" else 24 * HOUR
        series: dict[int, dict[str, Any]] = defaultdict(lambda: {
            "requests": 0, "cost": 0, "tokens": 0, "classes": dict.fromkeys(CLASSES, 0),
            "latency_hist": _empty_hist(), "ttft_hist": _empty_hist()})
        tops: dict[str, dict[Any, list[int]]] = {"model": defaultdict(lambda: [0, 0, 0]),
                                                  "owner_id": defaultdict(lambda: [0, 0, 0]),
                                                  "key_id": defaultdict(lambda: [0, 0, 0]),
                                                  "client": defaultdict(lambda: [0, 0, 0])}
        totals = {"requests": 0, "cost": 0, "tokens": 0, "errors": 0}
        latency_all, ttft_all = _empty_hist(), _empty_hist()
        async with self.engine.connect() as conn:
            result = await conn.stream(select(H).where(H.c.hour >= since // HOUR * HOUR, H.c.hour < until))
            async for r in result:
                cell = series[r.hour // size * size]
                tokens = int(r.prompt_tokens) + int(r.completion_tokens)
                cell["requests"] += r.requests
                cell["cost"] += r.cost
                cell["tokens"] += tokens
                cell["classes"][r.klass] = cell["classes"].get(r.klass, 0) + r.requests
                for i, v in enumerate(r.latency_hist or ()):
                    cell["latency_hist"][i] += v
                    latency_all[i] += v
                for i, v in enumerate(r.ttft_hist or ()):
                    cell["ttft_hist"][i] += v
                    ttft_all[i] += v
                errors = r.requests if r.klass != "ok" else 0
                totals["requests"] += r.requests
                totals["cost"] += r.cost
                totals["tokens"] += tokens
                totals["errors"] += errors
                for dim, table in tops.items():
                    entry = table[getattr(r, dim) or "-"]
                    entry[0] += r.requests
                    entry[1] += r.cost
                    entry[2] += errors
            refreshed = await get_meta(conn, "rollup_refreshed_at")
        start = since // size * size
        points = []
        for ts in range(start, until, size):
            cell = series.get(ts) or series[ts]
            points.append({"t": ts // 1000, "requests": cell["requests"], "cost": cell["cost"],
                           "tokens": cell["tokens"], "classes": cell["classes"],
                           "p50": percentile(cell["latency_hist"], 0.5), "p95": percentile(cell["latency_hist"], 0.95),
                           "ttft_p50": percentile(cell["ttft_hist"], 0.5)})
        top = {dim: [{"name": k, "requests": v[0], "cost": v[1], "errors": v[2]}
                     for k, v in sorted(table.items(), key=lambda kv: (-kv[1][0], str(kv[0])))[:10]]
               for dim, table in tops.items()}
        return {"step": step, "points": points, "top": top, "totals": totals,
                "p50": percentile(latency_all, 0.5), "p95": percentile(latency_all, 0.95),
                "ttft_p50": percentile(ttft_all, 0.5), "ttft_p95": percentile(ttft_all, 0.95),
                "refreshed_at": int(refreshed) if refreshed else None}
