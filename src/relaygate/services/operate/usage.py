"""Searching usage records for support and the admin API: filters, time ranges, keyset pagination."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.clock import iso
from relaygate.store import tables as t

u = t.usage_records

PUBLIC_FIELDS = ("request_id", "key_id", "masked_key", "owner_id", "group_name", "environment", "client",
                 "client_version", "entry_path", "host", "requested_model", "upstream_model", "channel_id",
                 "attempts", "status", "error_code", "prompt_tokens", "completion_tokens", "total_tokens",
                 "cached_tokens", "stream", "latency_ms", "ttft_ms", "caller_ip", "estimated", "cost", "detail",
                 "route")


@dataclass
class UsageFilter:
    key_id: str | None = None
    owner_id: str | None = None
    model: str | None = None
    status: int | None = None
    errors_only: bool = False
    error_code: str | None = None
    request_id: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    channel_id: int | None = None
    client: str | None = None
    masked_key: str | None = None


def record_view(row: Any) -> dict[str, Any]:
    out = {name: getattr(row, name) for name in PUBLIC_FIELDS}
    out["id"] = row.id
    out["time"] = iso(row.ts)
    out["stream"] = bool(out["stream"])
    out["estimated"] = bool(out["estimated"])
    return out


class UsageQuery:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def search(self, flt: UsageFilter, limit: int = 50, before_id: int | None = None,
                     after_id: int | None = None) -> list[dict[str, Any]]:
        """Newest first; ``before_id`` pages back, ``after_id`` returns newer rows (for tail)."""
        query = select(u)
        conds = filter_conditions(flt)
        if before_id is not None:
            conds.append(u.c.id < before_id)
        if after_id is not None:
            conds.append(u.c.id > after_id)
        if conds:
            query = query.where(*conds)
        order = u.c.id.asc() if after_id is not None else u.c.id.desc()
        query = query.order_by(order).limit(max(1, min(limit, 1000)))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [record_view(r) for r in rows]

    async def stream(self, flt: UsageFilter, chunk: int = 2000) -> AsyncIterator[list[dict[str, Any]]]:
        """Every matching record, newest first, in keyset-paged chunks: memory stays flat for a month."""
        before: int | None = None
        while True:
            rows = await self.search(flt, min(chunk, 1000), before)
            if not rows:
                return
            yield rows
            if len(rows) < min(chunk, 1000):
                return
            before = rows[-1]["id"]


def filter_conditions(flt: UsageFilter) -> list[Any]:
    conds: list[Any] = []
    if flt.key_id:
        conds.append(u.c.key_id == flt.key_id)
    if flt.owner_id:
        conds.append(u.c.owner_id == flt.owner_id)
    if flt.model:
        conds.append((u.c.requested_model == flt.model) | (u.c.upstream_model == flt.model))
    if flt.status is not None:
        conds.append(u.c.status == flt.status)
    if flt.errors_only:
        conds.append(u.c.error_code.is_not(None))
    if flt.error_code:
        conds.append(u.c.error_code == flt.error_code)
    if flt.request_id:
        conds.append(u.c.request_id == flt.request_id)
    if flt.since_ms is not None:
        conds.append(u.c.ts >= flt.since_ms)
    if flt.until_ms is not None:
        conds.append(u.c.ts < flt.until_ms)
    if flt.channel_id is not None:
        conds.append(u.c.channel_id == flt.channel_id)
    if flt.client:
        conds.append(u.c.client == flt.client)
    if flt.masked_key:
        conds.append(u.c.masked_key == flt.masked_key)
    return conds
