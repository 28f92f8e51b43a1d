"""`relaygate stats`: errors per class per day, the most repeated codes per client and per owner, FAQ entries to write.

Aggregates run in the database (GROUP BY) and are portable over SQLite, PostgreSQL and MariaDB;
days are cut at midnight in the given UTC offset.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.clock import iso, now_ms
from relaygate.services.notices.clients import spec_for_detected
from relaygate.services.notices.guide import CLASSES, class_of, guide_for
from relaygate.store import tables as t

u = t.usage_records
DAY_MS = 86_400_000
_MISTAKE_CODES = ("base_url_mistake", "endpoint_not_served")


async def desk_summary(engine: AsyncEngine, days: int = 7, now: int | None = None) -> dict[str, Any]:
    """What the support desk shows beside its search, cheaply on any record count: the last ``days`` UTC
    days' requests and errors (from the usage rollups) and their base-URL mistakes (index on the error code)."""
    from relaygate.services.operate.rollups import Rollups

    now = now or now_ms()
    since = (now // DAY_MS - (days - 1)) * DAY_MS
    totals = await Rollups(engine).totals(since, now + 1)
    async with engine.connect() as conn:
        details = (await conn.execute(select(u.c.detail).where(u.c.error_code.in_(_MISTAKE_CODES), u.c.ts >= since)
                                      .limit(100_000))).scalars().all()
    mistakes: Counter[str] = Counter(str(d["mistake"]) for d in details if isinstance(d, dict) and d.get("mistake"))
    return {"since": iso(since), "days": days, "requests": totals["requests"], "errors": totals["errors"],
            "mistakes": [{"mistake": m, "count": n} for m, n in _ranked(mistakes)]}


async def error_stats(engine: AsyncEngine, days: int = 7, utc_offset_hours: float = 0.0, top: int = 10,
                      now: int | None = None) -> dict[str, Any]:
    """Everything `relaygate stats` shows, as plain data (the CLI draws it, --json prints it)."""
    offset_ms = int(utc_offset_hours * 3_600_000)
    now = now or now_ms()
    first_day = (now + offset_ms) // DAY_MS - (days - 1)
    since = first_day * DAY_MS - offset_ms
    window = u.c.ts >= since
    failed = u.c.error_code.is_not(None)
    day = ((u.c.ts + offset_ms) // DAY_MS).label("day")
    async with engine.connect() as conn:
        totals: dict[int, int] = {int(d): n for d, n in (await conn.execute(
            select(day, func.count()).where(window).group_by(day))).all()}
        per_code_day = (await conn.execute(select(day, u.c.error_code, func.count()).where(window, failed)
                                           .group_by(day, u.c.error_code))).all()
        by_client = (await conn.execute(select(u.c.client, u.c.error_code, func.count().label("n"))
                                        .where(window, failed).group_by(u.c.client, u.c.error_code))).all()
        by_owner = (await conn.execute(select(u.c.owner_id, u.c.error_code, func.count().label("n"))
                                       .where(window, failed).group_by(u.c.owner_id, u.c.error_code))).all()
        owners = dict((await conn.execute(select(t.owners.c.id, t.owners.c.name))).all())
        details = (await conn.execute(select(u.c.detail).where(window, u.c.error_code.in_(_MISTAKE_CODES))
                                      .limit(100_000))).scalars().all()
    per_day: list[dict[str, Any]] = []
    classes: dict[int, Counter[str]] = defaultdict(Counter)
    codes: Counter[str] = Counter()
    for d, code, n in per_code_day:
        classes[int(d)][class_of(code)] += n
        codes[code] += n
    for d in range(first_day, first_day + days):
        label = datetime.fromtimestamp(d * DAY_MS / 1000, tz=UTC).date().isoformat()
        by_class = dict(classes.get(d, Counter()).most_common())
        per_day.append({"day": label, "requests": int(totals.get(d, 0)), "errors": sum(by_class.values()),
                        "by_class": by_class})
    client_rows = sorted(({"client": c or "unknown", "code": code, "count": n} for c, code, n in by_client),
                         key=lambda r: (-r["count"], r["client"], r["code"]))
    owner_rows = sorted(({"owner_id": o, "owner": owners.get(o) if o else None, "code": code, "count": n}
                         for o, code, n in by_owner), key=lambda r: (-r["count"], r["owner_id"] or "", r["code"]))
    mistakes: Counter[str] = Counter(str(d["mistake"]) for d in details if isinstance(d, dict) and d.get("mistake"))
    return {
        "since": iso(since), "days": days, "utc_offset_hours": utc_offset_hours,
        "requests": sum(r["requests"] for r in per_day), "errors": sum(r["errors"] for r in per_day),
        "per_day": per_day,
        "by_code": [{"code": c, "class": class_of(c), "count": n} for c, n in _ranked(codes)],
        "by_client": client_rows[:top], "by_owner": owner_rows[:top],
        "mistakes": [{"mistake": m, "count": n} for m, n in _ranked(mistakes)],
        "faq_next": faq_next(client_rows, top),
        "classes": {k: {"en": en, "zh": zh} for k, (en, zh) in CLASSES.items()},
    }


def _ranked(counter: Counter[str]) -> list[tuple[str, int]]:
    """Most frequent first; ties by name, so every database gives the same order."""
    return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))


def faq_next(client_rows: list[dict[str, Any]], top: int) -> list[dict[str, Any]]:
    """(code, client) pairs by count: each is an FAQ entry, phrased the way the caller asks."""
    out = []
    for row in client_rows[:top]:
        guide = guide_for(row["code"])
        spec = spec_for_detected(row["client"])
        client = spec.name if spec else row["client"]
        question = guide.question if guide else (row["code"], row["code"])
        out.append({"code": row["code"], "client": row["client"], "count": row["count"],
                    "title_en": f"{client}: {question[0]}", "title_zh": f"{client}：{question[1]}"})
    return out

