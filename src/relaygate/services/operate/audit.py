"""The audit log: who did what, when, from where, with the state before and after. Append-only."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from relaygate.core.clock import iso, now_ms
from relaygate.core.redact import redact
from relaygate.store import tables as t

A = t.audit_log
_SECRET_FIELDS = {"secret", "secrets", "password", "password_hash", "token", "token_hash", "key_hash",
                  "authorization", "csrf", "api_key", "password2", "current", "invite", "code", "link",
                  "webhook_secret"}


def scrub(value: Any) -> Any:
    """Secrets never reach the log: fields named like secrets are replaced, strings redacted."""
    if isinstance(value, dict):
        return {k: ("[hidden]" if k.lower() in _SECRET_FIELDS else scrub(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    if isinstance(value, str):
        return redact(value)
    return value


def _plain(value: Any) -> Any:
    if value is None:
        return None
    return orjson.loads(orjson.dumps(scrub(value), default=str))


class AuditLog:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def record(self, actor: str, source: str, action: str, target: str | None = None,
                     before: Any = None, after: Any = None, ip: str | None = None, outcome: str = "ok",
                     conn: AsyncConnection | None = None) -> None:
        row = {"ts": now_ms(), "actor": actor[:128], "source": source, "action": action[:64],
               "target": (target or "")[:255] or None, "before": _plain(before), "after": _plain(after),
               "ip": ip, "outcome": outcome}
        if conn is not None:
            await conn.execute(A.insert().values(**row))
            return
        async with self.engine.begin() as c:
            await c.execute(A.insert().values(**row))

    async def search(self, actor: str | None = None, action: str | None = None, source: str | None = None,
                     before_id: int | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Newest first, keyset-paged by id."""
        conds = []
        if actor:
            conds.append(A.c.actor == actor)
        if action:
            conds.append(A.c.action.like(f"{action}%"))
        if source:
            conds.append(A.c.source == source)
        if before_id is not None:
            conds.append(A.c.id < before_id)
        query = select(A).where(*conds).order_by(A.c.id.desc()).limit(max(1, min(limit, 500)))
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [{"id": r.id, "time": iso(r.ts), "actor": r.actor, "source": r.source, "action": r.action,
                 "target": r.target, "before": r.before, "after": r.after, "ip": r.ip, "outcome": r.outcome}
                for r in rows]
