"""Error rates per class and model-mapping figures from usage records, for a set of owners and a period."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from relaygate.services.rollout.model import CLASSES, classify
from relaygate.store import tables as t

U = t.usage_records
CHUNK = 500


@dataclass(slots=True)
class Rates:
    """Requests and errors by class over one period; ``source`` says where the figures come from."""

    requests: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    source: str = "relaygate"
    note: str = ""

    def rate(self, cls: str) -> float:
        return self.errors.get(cls, 0) / self.requests if self.requests else 0.0

    def add(self, other: Rates) -> None:
        self.requests += other.requests
        self.errors.update(other.errors)

    def view(self) -> dict[str, Any]:
        return {"requests": self.requests, "source": self.source, "note": self.note or None,
                "errors": {c: self.errors.get(c, 0) for c in CLASSES},
                "rates": {c: round(self.rate(c), 6) for c in CLASSES}}


def _route(route: str) -> Any:
    return U.c.route == "legacy" if route == "legacy" else or_(U.c.route == "native", U.c.route.is_(None))


async def usage_rates(conn: AsyncConnection, owners: list[str], since: int, until: int | None,
                      route: str) -> Rates:
    """Rates of these owners' usage records on one route (native or legacy) in [since, until)."""
    out = Rates()
    for i in range(0, len(owners), CHUNK):
        query = (select(U.c.status, U.c.error_code, func.count())
                 .where(U.c.owner_id.in_(owners[i:i + CHUNK]), U.c.ts >= since, _route(route))
                 .group_by(U.c.status, U.c.error_code))
        if until is not None:
            query = query.where(U.c.ts < until)
        for status, code, count in await conn.execute(query):
            out.requests += int(count)
            cls = classify(status, code)
            if cls is not None and cls != "other":
                out.errors[cls] += int(count)
    return out


async def daily_legacy_of(conn: AsyncConnection, owners: list[str], since: int) -> dict[str, int]:
    """Requests relaygate forwarded to the old entry per UTC day for these owners (they show in the old logs)."""
    day = (U.c.ts - U.c.ts % 86_400_000).label("day")
    out: Counter[str] = Counter()
    for i in range(0, len(owners), CHUNK):
        for start, count in await conn.execute(select(day, func.count()).where(
                U.c.ts >= since, U.c.owner_id.in_(owners[i:i + CHUNK]), _route("legacy")).group_by(day)):
            out[datetime.fromtimestamp(int(start) / 1000, tz=UTC).strftime("%Y-%m-%d")] += int(count)
    return dict(out)


async def mapping_stats(conn: AsyncConnection, owners: list[str], since: int, until: int | None) -> dict[str, Any]:
    """Of these owners' native requests naming a model: how many resolved (found in the mapping table)
    and how many went through an alias or a renamed upstream model (an old name mapped to a new one)."""
    aliases = {a for (names,) in await conn.execute(select(t.models.c.aliases)) for a in (names or [])}
    total = resolved = mapped = 0
    missing: Counter[str] = Counter()
    for i in range(0, len(owners), CHUNK):
        query = (select(U.c.requested_model, U.c.upstream_model, U.c.error_code, func.count())
                 .where(U.c.owner_id.in_(owners[i:i + CHUNK]), U.c.ts >= since, _route("native"),
                        U.c.requested_model.is_not(None))
                 .group_by(U.c.requested_model, U.c.upstream_model, U.c.error_code))
        if until is not None:
            query = query.where(U.c.ts < until)
        for requested, upstream, code, count in await conn.execute(query):
            n = int(count)
            total += n
            if code in ("model_not_found", "model_unsupported"):
                missing[str(requested)] += n
                continue
            resolved += n
            if requested in aliases or (upstream is not None and upstream != requested):
                mapped += n
    return {"requests": total, "resolved": resolved, "resolved_rate": round(resolved / total, 6) if total else None,
            "via_mapping": mapped, "via_mapping_rate": round(mapped / total, 6) if total else None,
            "unresolved_models": dict(missing.most_common(5))}
