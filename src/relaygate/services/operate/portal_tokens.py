"""One-time tokens of the portal: invites, password resets and e-mail verifications.

A token is 32 random bytes (256 bits, URL-safe); only its SHA-256 is stored, so a copy of the database
opens no account. Each has a purpose, an expiry and a number of uses; taking one is a compare-and-set
(``uses_left = uses_left - 1 WHERE uses_left > 0 AND not expired AND not revoked``), so a link used twice
at once works once. A password change ends every reset link of that user still open.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from relaygate.core.clock import iso, now_ms
from relaygate.core.ids import short_id
from relaygate.core.keys import hash_secret
from relaygate.store import tables as t

T = t.portal_tokens
PREFIX = {"invite": "rgi_", "reset": "rgr_", "verify": "rgv_"}


@dataclass(frozen=True)
class Taken:
    """What a token stood for, once taken."""

    id: str
    purpose: str
    user_id: str | None
    owner_id: str | None
    username: str | None
    email: str | None


def token_view(row: Any, owners: dict[str, str] | None = None) -> dict[str, Any]:
    """A token as listings show it: never the token itself (it is not stored)."""
    now = now_ms()
    state = ("revoked" if row.revoked_at else "used" if row.uses_left <= 0 else
             "expired" if row.expires_at <= now else "open")
    return {"id": row.id, "purpose": row.purpose, "owner_id": row.owner_id,
            "owner": (owners or {}).get(row.owner_id or "", row.owner_id) if row.owner_id else None,
            "username": row.username, "email": row.email, "uses_left": row.uses_left, "max_uses": row.max_uses,
            "expires_at": iso(row.expires_at), "used_at": iso(row.used_at), "state": state, "note": row.note,
            "created_by": row.created_by, "created_at": iso(row.created_at)}


async def issue(conn: AsyncConnection, purpose: str, *, ttl_ms: int, created_by: str, user_id: str | None = None,
                owner_id: str | None = None, username: str | None = None, email: str | None = None,
                uses: int = 1, note: str | None = None) -> tuple[str, dict[str, Any]]:
    """A new token (returned once, to be put in a link) and its row."""
    raw = PREFIX[purpose] + secrets.token_urlsafe(32)
    now = now_ms()
    values = {"id": short_id("tok"), "token_hash": hash_secret(raw), "purpose": purpose, "user_id": user_id,
              "owner_id": owner_id, "username": username, "email": email, "uses_left": uses, "max_uses": uses,
              "expires_at": now + ttl_ms, "used_at": None, "revoked_at": None, "note": (note or "")[:255] or None,
              "created_by": created_by[:128], "created_at": now}
    await conn.execute(T.insert().values(**values))
    return raw, values


def _live(raw: str, purpose: str, now: int) -> list[Any]:
    return [T.c.token_hash == hash_secret(raw), T.c.purpose == purpose, T.c.uses_left > 0,
            T.c.expires_at > now, T.c.revoked_at.is_(None)]


async def peek(engine: AsyncEngine, raw: str, purpose: str) -> Taken | None:
    """The token's meaning if it is still usable (for showing a form); nothing is taken."""
    if not raw or len(raw) > 100 or not raw.startswith(PREFIX[purpose]):
        return None
    async with engine.connect() as conn:
        row = (await conn.execute(select(T).where(*_live(raw, purpose, now_ms())))).first()
    return _taken(row) if row is not None else None


async def take(conn: AsyncConnection, raw: str, purpose: str) -> Taken | None:
    """Use the token once, inside the caller's transaction; None when unknown, used up, expired or revoked."""
    if not raw or len(raw) > 100 or not raw.startswith(PREFIX[purpose]):
        return None
    now = now_ms()
    result = await conn.execute(update(T).where(*_live(raw, purpose, now))
                                .values(uses_left=T.c.uses_left - 1, used_at=now))
    if result.rowcount != 1:
        return None
    row = (await conn.execute(select(T).where(T.c.token_hash == hash_secret(raw)))).one()
    return _taken(row)


async def end_for_user(conn: AsyncConnection, user_id: str, purpose: str) -> None:
    """Revoke every open token of ``purpose`` for a user (a password changed: older reset links die)."""
    await conn.execute(update(T).where(T.c.user_id == user_id, T.c.purpose == purpose, T.c.revoked_at.is_(None),
                                       T.c.uses_left > 0).values(revoked_at=now_ms()))


def _taken(row: Any) -> Taken:
    return Taken(row.id, row.purpose, row.user_id, row.owner_id, row.username, row.email)
