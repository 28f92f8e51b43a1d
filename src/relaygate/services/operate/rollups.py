"""Usage rollups for the overview charts and top lists, kept current off the request path by a background task.

Pages read ``usage_rollup`` (per hour and per UTC day, one row per error class, with latency and time to
first token as histograms so p50/p95 can be read for any range) and ``usage_rollup_dims`` (per hour and
per day, one row per model, owner, key and client). A range is read as whole days where it covers them
and hours at its ends, so a month's chart reads a few hundred rows whatever the record count, and the
sums stay exact. How the tables are kept: see ``Rollups``.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, bindparam, case, delete, func, literal_column, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.clock import now_ms
from relaygate.store import tables as t
from relaygate.store.db import get_meta, set_meta

log = logging.getLogger("relaygate.rollups")
HOUR = 3_600_000
DAY = 24 * HOUR
LATENCY_BUCKETS_MS = (25, 50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 7500, 10_000, 15_000,
                      20_000, 30_000, 60_000, 120_000, 300_000)
CLASSES = ("ok", "401", "402", "403", "404", "429", "timeout", "5xx", "4xx")
U = t.usage_records
H = t.usage_rollup
D = t.usage_rollup_dims
DIMS = (("model", "requested_model"), ("owner", "owner_id"), ("key", "key_id"), ("client", "client"),
        ("route", "route"))  # route: native, or legacy (forwarded to the old entry during a rollout)
TOP_DIMS = DIMS[:4]


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


def _lit(value: int | str) -> Any:
    """A constant written into the SQL: the same expression in SELECT and GROUP BY must be the same text on
    PostgreSQL, which bound parameters ($1 here, $9 there) are not."""
    return literal_column(str(value) if isinstance(value, int) else "'" + value + "'")


def _klass_sql() -> Any:
    """``error_class`` as the database computes it (the same order of rules)."""
    status, code = U.c.status, U.c.error_code
    return case((or_(code.like(_lit("%timeout%")), status == _lit(408), status == _lit(504)), _lit("timeout")),
                *((status == _lit(s), _lit(str(s))) for s in (401, 402, 403, 404, 429)),
                (status >= _lit(500), _lit("5xx")), (status >= _lit(400), _lit("4xx")), else_=_lit("ok"))


def _bucket_sql(column: Any) -> Any:
    """``_bucket`` as the database computes it: the first bucket whose upper edge is at least the value."""
    return case(*((column <= _lit(edge), _lit(i)) for i, edge in enumerate(LATENCY_BUCKETS_MS)),
                else_=_lit(len(LATENCY_BUCKETS_MS)))


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


def segments(since: int, until: int) -> list[tuple[str, int, int]]:
    """[since, until) as (span, first start, end): hours up to the first whole day, whole days, then hours."""
    since = since // HOUR * HOUR
    until = -(-until // HOUR) * HOUR
    first_day = -(-since // DAY) * DAY
    last_day = until // DAY * DAY
    if first_day >= last_day:
        return [("h", since, until)] if since < until else []
    out = [("h", since, first_day)] if since < first_day else []
    out.append(("d", first_day, last_day))
    if last_day < until:
        out.append(("h", last_day, until))
    return out


def _within(table: Any, parts: list[tuple[str, int, int]]) -> Any:
    return or_(*(and_(table.c.span == span, table.c.start >= a, table.c.start < b) for span, a, b in parts))


def _each(dim: str, parts: list[tuple[str, int, int]], *sums: Any) -> Any:
    """A dimension's rows in each segment, grouped by value per segment (one index range each: an OR of the
    segments made the database walk every row of the dimension instead)."""
    return union_all(*(select(D.c.value, *(func.sum(c) for c in sums))
                       .where(D.c.dim == dim, D.c.span == span, D.c.start >= a, D.c.start < b)
                       .group_by(D.c.value) for span, a, b in parts)).subquery()


class Rollups:
    """Keeps ``usage_rollup`` and ``usage_rollup_dims`` current: each record is read about twice in its life,
    never per page view.

    Each cycle adds the records past ``meta.rollup_last_id`` (in id order, ``CHUNK`` at a time) to their
    hour and their day; a closed hour is rebuilt once from ``usage_records`` (up to the same id) a few minutes
    after it ends, which takes in records a concurrent writer committed out of id order, and its day is then
    summed again from its hours. The watermark moves by compare-and-set in the same transaction as the sums,
    so two workers never add a record twice.
    """

    CHUNK = 20_000
    PER_CYCLE = 200_000
    SETTLE_MS = 5 * 60_000

    def __init__(self, engine: AsyncEngine, interval: float = 30.0) -> None:
        self.engine = engine
        self.interval = interval

    async def _gather(self, conn: Any, where: Any, days: bool = True
                      ) -> tuple[dict[tuple[Any, ...], dict[str, Any]], dict[tuple[Any, ...], list[int]], int]:
        """The records matching ``where`` summed by the database per hour (and day) and error class, latency
        bucket and dimension value: the event loop handles a few hundred sums, never a row per record."""
        hour = (U.c.ts - U.c.ts % _lit(HOUR)).label("hour")
        klass = _klass_sql().label("klass")
        series: dict[tuple[Any, ...], dict[str, Any]] = {}
        dims: dict[tuple[Any, ...], list[int]] = {}

        def spans(start: int) -> tuple[tuple[str, int], ...]:
            return (("h", start), ("d", start // DAY * DAY)) if days else (("h", start),)

        def cell(span: str, start: int, k: str) -> dict[str, Any]:
            found = series.get((span, start, k))
            if found is None:
                found = series[(span, start, k)] = {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0,
                                                    "cost": 0, "latency_hist": _empty_hist(),
                                                    "ttft_hist": _empty_hist()}
            return found

        count = 0
        for h, k, n, prompt, completion, cost in await conn.execute(
                select(hour, klass, func.count(), func.sum(U.c.prompt_tokens), func.sum(U.c.completion_tokens),
                       func.sum(U.c.cost)).where(where).group_by(hour, klass)):
            count += int(n)
            for span, start in spans(int(h)):
                c = cell(span, start, k)
                c["requests"] += int(n)
                c["prompt_tokens"] += int(prompt or 0)
                c["completion_tokens"] += int(completion or 0)
                c["cost"] += int(cost or 0)
        for name, column, cond in (("latency_hist", func.coalesce(U.c.latency_ms, _lit(0)), where),
                                   ("ttft_hist", U.c.ttft_ms, and_(where, U.c.ttft_ms.is_not(None)))):
            bucket = _bucket_sql(column).label("bucket")
            for h, k, b, n in await conn.execute(select(hour, klass, bucket, func.count()).where(cond)
                                                 .group_by(hour, klass, bucket)):
                for span, start in spans(int(h)):
                    cell(span, start, k)[name][int(b)] += int(n)
        # not "ok" (error_class): a status from 400 up, or a timeout code (whatever the status)
        error = case((or_(U.c.status >= _lit(400), U.c.error_code.like(_lit("%timeout%"))), _lit(1)), else_=_lit(0))
        tokens = func.coalesce(U.c.prompt_tokens, _lit(0)) + func.coalesce(U.c.completion_tokens, _lit(0))
        for dim, attr in DIMS:
            column = getattr(U.c, attr)
            for h, value, n, errors, toks, cost in await conn.execute(
                    select(hour, column, func.count(), func.sum(error), func.sum(tokens), func.sum(U.c.cost))
                    .where(where).group_by(hour, column)):
                value = value or ("native" if dim == "route" else "-")
                for span, start in spans(int(h)):
                    sums = dims.setdefault((span, start, dim, value), [0, 0, 0, 0])
                    sums[0] += int(n)
                    sums[1] += int(errors or 0)
                    sums[2] += int(toks or 0)
                    sums[3] += int(cost or 0)
        return series, dims, count

    async def _merge(self, conn: Any, series: dict[tuple[Any, ...], dict[str, Any]],
                     dims: dict[tuple[Any, ...], list[int]]) -> None:
        """Add the cells to the rows there are (or insert them)."""
        keys = sorted({(k[0], k[1]) for k in series})
        if not keys:  # an hour rebuilt with no record left in it
            return
        where = or_(*(and_(H.c.span == span, H.c.start == start) for span, start in keys))
        existing = {(r.span, r.start, r.klass): r for r in (await conn.execute(select(H).where(where))).all()}
        inserts, updates = [], []
        for k, v in series.items():
            old = existing.get(k)
            if old is None:
                inserts.append({"span": k[0], "start": k[1], "klass": k[2], **v})
                continue
            updates.append({
                "_id": old.id, "requests": old.requests + v["requests"],
                "prompt_tokens": old.prompt_tokens + v["prompt_tokens"],
                "completion_tokens": old.completion_tokens + v["completion_tokens"], "cost": old.cost + v["cost"],
                "latency_hist": [a + b for a, b in zip(old.latency_hist, v["latency_hist"], strict=False)],
                "ttft_hist": [a + b for a, b in zip(old.ttft_hist, v["ttft_hist"], strict=False)]})
        if updates:  # one statement for all (executemany), not one round trip per row
            await conn.execute(H.update().where(H.c.id == bindparam("_id")).values(
                {name: bindparam(name) for name in ("requests", "prompt_tokens", "completion_tokens", "cost",
                                                    "latency_hist", "ttft_hist")}), updates)
        for i in range(0, len(inserts), 500):
            await conn.execute(H.insert(), inserts[i:i + 500])
        where = or_(*(and_(D.c.span == span, D.c.start == start) for span, start in keys))
        have = {(r.span, r.start, r.dim, r.value): r for r in (await conn.execute(
            select(D.c.id, D.c.span, D.c.start, D.c.dim, D.c.value, D.c.requests, D.c.errors, D.c.tokens,
                   D.c.cost).where(where))).all()}
        adds, changes = [], []
        for k, (n, errors, tokens, cost) in dims.items():
            row = have.get(k)
            if row is None:
                adds.append({"span": k[0], "start": k[1], "dim": k[2], "value": str(k[3])[:128], "requests": n,
                             "errors": errors, "tokens": tokens, "cost": cost})
                continue
            changes.append({"_id": row.id, "requests": row.requests + n, "errors": row.errors + errors,
                            "tokens": row.tokens + tokens, "cost": row.cost + cost})
        if changes:
            await conn.execute(D.update().where(D.c.id == bindparam("_id")).values(
                {name: bindparam(name) for name in ("requests", "errors", "tokens", "cost")}), changes)
        for i in range(0, len(adds), 500):
            await conn.execute(D.insert(), adds[i:i + 500])

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
            ids = select(U.c.id).where(U.c.id > last).order_by(U.c.id).limit(self.CHUNK).subquery()
            upper = (await conn.execute(select(func.max(ids.c.id)))).scalar()
            if upper is None:
                return 0
            series, dims, count = await self._gather(conn, and_(U.c.id > last, U.c.id <= int(upper)))
        async with self.engine.begin() as conn:
            if not await self._cas(conn, "rollup_last_id", last_text, str(int(upper))):
                await conn.rollback()
                return 0
            await self._merge(conn, series, dims)
        return count

    async def rebuild_hour(self, hour: int, up_to_id: int) -> None:
        """The hour again from its records (ids up to the watermark; later ones come incrementally), then its
        day summed again from its hours."""
        async with self.engine.connect() as conn:
            series, dims, _ = await self._gather(conn, and_(U.c.ts >= hour, U.c.ts < hour + HOUR,
                                                            U.c.id <= up_to_id), days=False)
        day = hour // DAY * DAY
        async with self.engine.begin() as conn:
            # holds the watermark row (a concurrent step() waits) and checks it did not move meanwhile
            if not await self._cas(conn, "rollup_last_id", str(up_to_id), str(up_to_id)):
                await conn.rollback()
                return
            await conn.execute(delete(H).where(H.c.span == "h", H.c.start == hour))
            await conn.execute(delete(D).where(D.c.span == "h", D.c.start == hour))
            await self._merge(conn, series, dims)
            await self._sum_day(conn, day)
            await set_meta(conn, "rollup_final_until", str(hour + HOUR))

    async def _sum_day(self, conn: Any, day: int) -> None:
        """A day's rows as the sums of its hours' rows (after one of its hours was rebuilt)."""
        hours = and_(H.c.span == "h", H.c.start >= day, H.c.start < day + DAY)
        series: dict[tuple[Any, ...], dict[str, Any]] = {}
        for r in (await conn.execute(select(H).where(hours))).all():
            cell = series.setdefault(("d", day, r.klass), {
                "requests": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost": 0,
                "latency_hist": _empty_hist(), "ttft_hist": _empty_hist()})
            for name in ("requests", "prompt_tokens", "completion_tokens", "cost"):
                cell[name] += int(getattr(r, name))
            for name in ("latency_hist", "ttft_hist"):
                cell[name] = [a + b for a, b in zip(cell[name], getattr(r, name) or (), strict=False)]
        dims = {("d", day, dim, value): [int(n), int(e), int(tk), int(c)] for dim, value, n, e, tk, c in (
            await conn.execute(select(D.c.dim, D.c.value, func.sum(D.c.requests), func.sum(D.c.errors),
                                      func.sum(D.c.tokens), func.sum(D.c.cost))
                               .where(D.c.span == "h", D.c.start >= day, D.c.start < day + DAY)
                               .group_by(D.c.dim, D.c.value))).all()}
        await conn.execute(delete(H).where(H.c.span == "d", H.c.start == day))
        await conn.execute(delete(D).where(D.c.span == "d", D.c.start == day))
        await self._merge(conn, series, dims)

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
        """Series per hour or day and the top lists over [since, until), read as whole days and edge hours."""
        size = HOUR if step == "hour" else DAY
        parts = segments(since, until)
        if step == "hour":  # hour points need hour rows throughout
            parts = [("h", parts[0][1], parts[-1][2])] if parts else []
        series: dict[int, dict[str, Any]] = defaultdict(lambda: {
            "requests": 0, "cost": 0, "tokens": 0, "classes": dict.fromkeys(CLASSES, 0),
            "latency_hist": _empty_hist(), "ttft_hist": _empty_hist()})
        totals = {"requests": 0, "cost": 0, "tokens": 0, "errors": 0}
        latency_all, ttft_all = _empty_hist(), _empty_hist()
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(H).where(_within(H, parts)))).all() if parts else []
            top = await self._tops(conn, segments(since, until))
            refreshed = await get_meta(conn, "rollup_refreshed_at")
        for r in rows:
            cell = series[r.start // size * size]
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
            totals["requests"] += r.requests
            totals["cost"] += r.cost
            totals["tokens"] += tokens
            totals["errors"] += r.requests if r.klass != "ok" else 0
        start = since // size * size
        points = []
        for ts in range(start, until, size):
            cell = series.get(ts) or series[ts]
            points.append({"t": ts // 1000, "requests": cell["requests"], "cost": cell["cost"],
                           "tokens": cell["tokens"], "classes": cell["classes"],
                           "p50": percentile(cell["latency_hist"], 0.5), "p95": percentile(cell["latency_hist"], 0.95),
                           "ttft_p50": percentile(cell["ttft_hist"], 0.5)})
        return {"step": step, "points": points, "top": top, "totals": totals,
                "p50": percentile(latency_all, 0.5), "p95": percentile(latency_all, 0.95),
                "ttft_p50": percentile(ttft_all, 0.5), "ttft_p95": percentile(ttft_all, 0.95),
                "refreshed_at": int(refreshed) if refreshed else None}

    async def _tops(self, conn: Any, parts: list[tuple[str, int, int]], limit: int = 10
                    ) -> dict[str, list[dict[str, Any]]]:
        """The ten busiest models, owners, keys and clients, summed by the database."""
        out: dict[str, list[dict[str, Any]]] = {}
        for dim, attr in TOP_DIMS:
            rows = [] if not parts else (await conn.execute(
                select(_each(dim, parts, D.c.requests, D.c.cost, D.c.errors)))).all()
            sums: dict[str, list[int]] = {}
            for value, n, c, e in rows:
                acc = sums.setdefault(value, [0, 0, 0])
                acc[0] += int(n)
                acc[1] += int(c)
                acc[2] += int(e)
            ranked = sorted(sums.items(), key=lambda kv: (-kv[1][0], kv[0]))[:limit]
            out[attr if attr != "requested_model" else "model"] = [
                {"name": v, "requests": n, "cost": c, "errors": e} for v, (n, c, e) in ranked]
        return out

    async def totals(self, since: int, until: int) -> dict[str, int]:
        """Requests and errors over [since, until), without series or top lists."""
        parts = segments(since, until)
        if not parts:
            return {"requests": 0, "errors": 0}
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(func.sum(H.c.requests),
                                             func.sum(case((H.c.klass != "ok", H.c.requests), else_=0)))
                                      .where(_within(H, parts)))).one()
        return {"requests": int(row[0] or 0), "errors": int(row[1] or 0)}

    async def totals_of(self, dim: str, value: str, since: int, until: int) -> dict[str, int]:
        """One model's, owner's, key's or client's requests, errors, tokens and cost over [since, until)."""
        parts = segments(since, until)
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(func.sum(D.c.requests), func.sum(D.c.errors), func.sum(D.c.tokens),
                                             func.sum(D.c.cost))
                                      .where(D.c.dim == dim, D.c.value == value, _within(D, parts)))).one() \
                if parts else (0, 0, 0, 0)
        return {"requests": int(row[0] or 0), "errors": int(row[1] or 0), "tokens": int(row[2] or 0),
                "cost": int(row[3] or 0)}

    async def requests_by(self, dim: str, since: int, until: int) -> dict[str, int]:
        """Requests per value of a dimension over [since, until) (e.g. per route: native, legacy)."""
        parts = segments(since, until)
        if not parts:
            return {}
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(D.c.value, func.sum(D.c.requests))
                                       .where(D.c.dim == dim, _within(D, parts)).group_by(D.c.value))).all()
        return {str(v): int(n) for v, n in rows}

    async def daily_by(self, dim: str, since: int, until: int) -> dict[str, dict[str, int]]:
        """Requests per UTC day (YYYY-MM-DD) and value of a dimension over [since, until), days in order."""
        parts = segments(since, until)
        if not parts:
            return {}
        day = (D.c.start - D.c.start % DAY).label("day")  # integer arithmetic: the three backends agree
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(day, D.c.value, func.sum(D.c.requests))
                                       .where(D.c.dim == dim, _within(D, parts)).group_by(day, D.c.value))).all()
        out: dict[str, dict[str, int]] = {}
        for start, value, n in sorted(rows, key=lambda r: int(r[0])):
            key = datetime.fromtimestamp(int(start) / 1000, tz=UTC).strftime("%Y-%m-%d")
            out.setdefault(key, {})[str(value)] = int(n)
        return out
