"""Browser sessions for the console (and the key-holder portal): random ids in a cookie, hashes in the table.

A session expires after ``idle`` without use and at ``absolute`` at the latest; it can be revoked
(one, or all of a subject's) and every worker sees that on the next request, since each request
reads its row. The CSRF token belongs to the session.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.clock import iso, now_ms
from relaygate.core.keys import hash_secret
from relaygate.store import tables as t

S = t.web_sessions
IDLE_MS = 2 * 3600 * 1000
ABSOLUTE_MS = 12 * 3600 * 1000
TOUCH_EVERY_MS = 60 * 1000


@dataclass(frozen=True)
class WebSession:
    id_hash: str
    subject_kind: str
    subject_id: str
    subject_name: str
    role: str
    csrf: str
    expires_at: int


class WebSessions:
    def __init__(self, engine: AsyncEngine, idle_ms: int = IDLE_MS, absolute_ms: int = ABSOLUTE_MS) -> None:
        self.engine = engine
        self.idle_ms = idle_ms
        self.absolute_ms = absolute_ms

    async def create(self, kind: str, subject_id: str, name: str, role: str, ip: str | None,
                     user_agent: str | None) -> tuple[str, WebSession]:
        """A new session; returns the cookie value (shown to the browser only) and the session."""
        raw = secrets.token_urlsafe(32)
        now = now_ms()
        values = {"id_hash": hash_secret(raw), "subject_kind": kind, "subject_id": subject_id,
                  "subject_name": name, "role": role, "csrf": secrets.token_urlsafe(32), "ip": ip,
                  "user_agent": (user_agent or "")[:255], "created_at": now, "last_seen_at": now,
                  "expires_at": now + self.absolute_ms, "revoked_at": None}
        async with self.engine.begin() as conn:
            await conn.execute(S.insert().values(**values))
        return raw, _session(values)

    async def get(self, raw: str | None) -> WebSession | None:
        """The live session for a cookie value, or None (unknown, expired, idle too long, revoked)."""
        if not raw or len(raw) > 100:
            return None
        id_hash = hash_secret(raw)
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(S).where(S.c.id_hash == id_hash))).first()
        now = now_ms()
        if row is None or row.revoked_at is not None or row.expires_at <= now or \
                row.last_seen_at + self.idle_ms <= now:
            return None
        if now - row.last_seen_at > TOUCH_EVERY_MS:
            async with self.engine.begin() as conn:
                await conn.execute(update(S).where(S.c.id_hash == id_hash).values(last_seen_at=now))
        return _session(row._mapping)

    async def revoke(self, id_hash: str) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(update(S).where(S.c.id_hash == id_hash, S.c.revoked_at.is_(None))
                               .values(revoked_at=now_ms()))

    async def revoke_subject(self, kind: str, subject_id: str) -> int:
        async with self.engine.begin() as conn:
            result = await conn.execute(update(S).where(S.c.subject_kind == kind, S.c.subject_id == subject_id,
                                                        S.c.revoked_at.is_(None)).values(revoked_at=now_ms()))
        return int(result.rowcount or 0)

    async def active(self, kind: str | None = None) -> list[dict[str, Any]]:
        now = now_ms()
        conds = [S.c.revoked_at.is_(None), S.c.expires_at > now, S.c.last_seen_at > now - self.idle_ms]
        if kind:
            conds.append(S.c.subject_kind == kind)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(S).where(*conds).order_by(S.c.last_seen_at.desc()).limit(200))).all()
        # the short handle is a prefix of the hash: enough to revoke, useless as a cookie
        return [{"handle": r.id_hash[:16], "kind": r.subject_kind, "name": r.subject_name, "role": r.role,
                 "ip": r.ip, "user_agent": r.user_agent, "created_at": iso(r.created_at),
                 "last_seen_at": iso(r.last_seen_at)} for r in rows]

    async def revoke_handle(self, handle: str) -> int:
        if len(handle) != 16:
            return 0
        async with self.engine.begin() as conn:
            result = await conn.execute(update(S).where(S.c.id_hash.like(handle + "%"), S.c.revoked_at.is_(None))
                                        .values(revoked_at=now_ms()))
        return int(result.rowcount or 0)


def _session(values: Any) -> WebSession:
    return WebSession(values["id_hash"], values["subject_kind"], values["subject_id"], values["subject_name"],
                      values["role"], values["csrf"], values["expires_at"])
