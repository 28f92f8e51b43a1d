"""Media tasks for operators and support: a filtered list and one task with every support field.

What a task page may show: our ids and the id the client holds, state, progress, the upstream's task id
and status, the channel, owner and key (masked), callback deliveries (host, status, error: never the
callback URL, which may carry the receiver's token), the task's ledger entries and money. Never the
upstream's key or result URL: those stay in the task record for the poller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.clock import iso
from relaygate.store import tables as t

T = t.media_tasks
L = t.ledger_entries
STATES = ("queued", "running", "succeeded", "failed", "cancelled", "expired")
LIST_FIELDS = ("id", "source_id", "state", "progress", "model", "kind", "surface", "owner_id", "key_id",
               "masked_key", "channel_id", "hold", "cost", "prepaid", "error_code", "callback_state",
               "created_at", "finished_at")


@dataclass
class TaskFilter:
    state: str | None = None
    model: str | None = None
    owner_id: str | None = None
    key: str | None = None  # key id or masked key
    kind: str | None = None
    search: str | None = None  # our id, the client's old id or the upstream's id
    since_ms: int | None = None
    until_ms: int | None = None
    imported: bool | None = None  # taken over from New API


def _conditions(flt: TaskFilter) -> list[Any]:
    conds: list[Any] = []
    if flt.state:
        conds.append(T.c.state == flt.state)
    if flt.model:
        conds.append(T.c.model == flt.model)
    if flt.owner_id:
        conds.append(T.c.owner_id == flt.owner_id)
    if flt.key:
        conds.append(T.c.key_id == flt.key if flt.key.startswith("key_") else T.c.masked_key == flt.key)
    if flt.kind:
        conds.append(T.c.kind == flt.kind)
    if flt.search:
        conds.append(or_(T.c.id == flt.search, T.c.source_id == flt.search, T.c.upstream_task_id == flt.search,
                         T.c.request_id == flt.search))
    if flt.since_ms is not None:
        conds.append(T.c.created_at >= flt.since_ms)
    if flt.until_ms is not None:
        conds.append(T.c.created_at < flt.until_ms)
    if flt.imported is not None:
        conds.append(T.c.source_id.is_not(None) if flt.imported else T.c.source_id.is_(None))
    return conds


def list_view(row: Any) -> dict[str, Any]:
    out = {name: getattr(row, name) for name in LIST_FIELDS}
    out["created"] = iso(row.created_at)
    out["finished"] = iso(row.finished_at)
    out["imported"] = bool((row.params or {}).get("imported"))
    out["cursor"] = f"{row.created_at}.{row.id}"
    return out


class TaskDesk:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def search(self, flt: TaskFilter, limit: int = 50, before: str | None = None) -> list[dict[str, Any]]:
        """Newest first; ``before`` is the ``cursor`` of the last row of the previous page."""
        conds = _conditions(flt)
        if before:
            at, _, tid = before.partition(".")
            if at.lstrip("-").isdigit():
                conds.append(or_(T.c.created_at < int(at), and_(T.c.created_at == int(at), T.c.id < tid)))
        query = select(T).order_by(T.c.created_at.desc(), T.c.id.desc()).limit(max(1, min(limit, 500)))
        if conds:
            query = query.where(*conds)
        async with self.engine.connect() as conn:
            return [list_view(r) for r in (await conn.execute(query)).all()]

    async def find(self, ident: str) -> Any | None:
        """A task by our id, else by the id the client holds (a taken-over task), else by the upstream's id."""
        async with self.engine.connect() as conn:
            for column in (T.c.id, T.c.source_id, T.c.upstream_task_id):
                row = (await conn.execute(select(T).where(column == ident).limit(1))).first()
                if row is not None:
                    return row
        return None

    async def detail(self, ident: str) -> dict[str, Any] | None:
        """Every support field of one task (see the module docstring for what is never shown)."""
        row = await self.find(ident)
        if row is None:
            return None
        async with self.engine.connect() as conn:
            deliveries = (await conn.execute(select(t.media_deliveries).where(
                t.media_deliveries.c.task_id == row.id).order_by(t.media_deliveries.c.id))).all()
            entries = (await conn.execute(select(L).where(L.c.request_id == row.request_id).order_by(L.c.id))).all()
            usage = (await conn.execute(select(t.usage_records.c.request_id).where(
                t.usage_records.c.request_id == row.request_id))).first()
            channel = (await conn.execute(select(t.channels.c.name, t.channels.c.protocol).where(
                t.channels.c.id == row.channel_id))).first()
            owner = (await conn.execute(select(t.owners.c.name).where(t.owners.c.id == row.owner_id))).scalar()
        params = row.params or {}
        imported = params.get("imported") or None
        refunded = sum(int(e.amount) for e in entries if e.kind in ("refund", "adjustment"))
        charged = -sum(int(e.amount) for e in entries if e.kind == "settle")
        return {
            "task_id": row.id, "source_id": row.source_id, "request_id": row.request_id,
            "usage_record": usage is not None, "state": row.state, "progress": row.progress,
            "upstream_started": bool(row.upstream_started), "model": row.model, "kind": row.kind,
            "surface": row.surface, "owner_id": row.owner_id, "owner": owner, "key_id": row.key_id or None,
            "masked_key": row.masked_key, "group": row.group_name, "channel_id": row.channel_id,
            "channel": channel.name if channel else None, "protocol": row.protocol,
            "upstream_model": row.upstream_model, "upstream_task_id": row.upstream_task_id,
            "params": {k: v for k, v in params.items() if k not in ("secret_index", "imported")},
            "refs": row.refs or [], "prompt_summary": row.prompt_summary, "review": row.review,
            "error_code": row.error_code, "error_message": row.error_message,
            "hold": int(row.hold or 0), "cost": int(row.cost or 0), "prepaid": int(row.prepaid or 0),
            "charged": charged, "refunded": refunded, "units": row.units,
            "imported": imported, "download_state": row.download_state,
            "fetched": int((row.result or {}).get("fetched") or 0),
            "last_fetched_at": iso((row.result or {}).get("last_fetched_at")),
            "result_expires_at": iso(row.result_expires_at),
            "callback": {"host": _host(row.callback_url), "state": row.callback_state,
                         "attempts": int(row.callback_attempts or 0), "next_at": iso(row.callback_next_at)},
            "deliveries": [{"attempt": d.attempt, "host": d.url_host, "status": d.status, "error": d.error,
                            "at": iso(d.created_at)} for d in deliveries],
            "ledger": [{"kind": e.kind, "amount": int(e.amount), "held": int(e.held or 0), "reason": e.reason,
                        "at": iso(e.created_at)} for e in entries],
            "poll": {"failures": int(row.poll_failures or 0), "next_at": iso(row.next_poll_at)},
            "created_at": iso(row.created_at), "updated_at": iso(row.updated_at), "finished_at": iso(row.finished_at),
            "expires_at": iso(row.expires_at),
        }


def _host(url: str | None) -> str | None:
    if not url:
        return None
    rest = url.split("://", 1)[-1]
    return rest.split("/", 1)[0].rsplit("@", 1)[-1] or None
