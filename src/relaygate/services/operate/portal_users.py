"""Portal users: key holders who sign in to see their own owner's balance, keys and requests.

A user belongs to one owner; everything the portal shows is scoped to that owner
(``operate/selfservice.py``). One API / New API users keep their passwords: their bcrypt hashes are
imported as they are and verify as they did. Five wrong passwords in a row lock the user for 15
minutes; an unknown name costs the same time as a known one; a disabled user's sessions end at once.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from relaygate.core.clock import iso, now_ms
from relaygate.core.errors import InvalidInput
from relaygate.core.ids import short_id
from relaygate.core.passwords import MIN_LENGTH, hash_password, is_bcrypt
from relaygate.services.operate.accounts import AccountsAdmin
from relaygate.services.operate.operators import Principal, SignInRefused, check_password
from relaygate.store import tables as t

U = t.portal_users
HOLDER = "holder"  # the one portal role (services/operate/roles.py)


MAX_PASSWORD = 256


def check_new_password(password: str) -> str:
    if not MIN_LENGTH <= len(password) <= MAX_PASSWORD:
        raise InvalidInput(f"A password has {MIN_LENGTH} to {MAX_PASSWORD} characters.",
                           f"密码长度为 {MIN_LENGTH} 到 {MAX_PASSWORD} 个字符。")
    return password


async def end_sessions(conn: AsyncConnection, user_id: str, keep: str | None = None) -> None:
    """End a user's sessions (all, or all but ``keep``, the session that made the change)."""
    S = t.web_sessions
    conds = [S.c.subject_kind == "user", S.c.subject_id == user_id, S.c.revoked_at.is_(None)]
    if keep:
        conds.append(S.c.id_hash != keep)
    await conn.execute(update(S).where(*conds).values(revoked_at=now_ms()))


def user_view(row: Any) -> dict[str, Any]:
    return {"id": row.id, "username": row.username, "owner_id": row.owner_id, "email": row.email,
            "enabled": bool(row.enabled), "source": row.source, "last_login_at": iso(row.last_login_at),
            "email_verified": row.email_verified_at is not None, "verify_pending": bool(row.verify_pending),
            "sso": row.oidc_subject is not None,
            "locked_until": iso(row.locked_until) if row.locked_until and row.locked_until > now_ms() else None}


class PortalUsers:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def add(self, username: str, owner: str, password: str = "", *, password_hash: str | None = None,
                  email: str | None = None, source: str = "native") -> dict[str, Any]:
        username = username.strip()
        if not username:
            raise InvalidInput("A user needs a username.", "用户需要用户名。")
        if password_hash is None:
            if len(password) < MIN_LENGTH:
                raise InvalidInput(f"A password needs at least {MIN_LENGTH} characters.",
                                   f"密码至少需要 {MIN_LENGTH} 个字符。")
            password_hash = await asyncio.to_thread(hash_password, password)
        async with self.engine.begin() as conn:
            owner_row = await AccountsAdmin(self.engine).resolve_owner(conn, owner)
            if (await conn.execute(select(U.c.id).where(U.c.username == username))).first():
                raise InvalidInput(f"A user named '{username}' already exists.", f"已存在用户名 '{username}'。",
                                   status=409)
            now = now_ms()
            values = {"id": short_id("usr"), "owner_id": owner_row.id, "username": username,
                      "password_hash": password_hash, "email": email, "enabled": True, "source": source,
                      "failed_logins": 0, "locked_until": None, "last_login_at": None, "created_at": now,
                      "updated_at": now, "verify_pending": False, "oidc_subject": None,
                      "email_verified_at": now if email and source == "native" else None}  # an operator vouches
            await conn.execute(U.insert().values(**values))
            row = (await conn.execute(select(U).where(U.c.id == values["id"]))).one()
        return user_view(row)

    async def import_hashed(self, username: str, owner: str, password_hash: str, source: str) -> dict[str, Any] | None:
        """A One API / New API user keeps their bcrypt hash; None when the name already exists."""
        if not is_bcrypt(password_hash):
            raise InvalidInput("Only bcrypt hashes can be imported.", "只能导入 bcrypt 哈希。")
        try:
            return await self.add(username, owner, password_hash=password_hash, source=source)
        except InvalidInput as exc:
            if exc.status == 409:
                return None
            raise

    async def _row(self, ident: str) -> Any:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(U).where((U.c.id == ident) | (U.c.username == ident)))).first()
        if row is None:
            raise InvalidInput(f"No user '{ident}'.", f"找不到用户 '{ident}'。", status=404)
        return row

    async def list(self, owner: str | None = None) -> list[dict[str, Any]]:
        query = select(U).order_by(U.c.username)
        async with self.engine.connect() as conn:
            if owner:
                query = query.where(U.c.owner_id == (await AccountsAdmin(self.engine).resolve_owner(conn, owner)).id)
            return [user_view(r) for r in (await conn.execute(query)).all()]

    async def _set(self, ident: str, **values: Any) -> dict[str, Any]:
        row = await self._row(ident)
        async with self.engine.begin() as conn:
            await conn.execute(update(U).where(U.c.id == row.id).values(updated_at=now_ms(), **values))
        return user_view(await self._row(row.id))

    async def passwd(self, ident: str, password: str) -> dict[str, Any]:
        if len(password) < MIN_LENGTH:
            raise InvalidInput(f"A password needs at least {MIN_LENGTH} characters.",
                               f"密码至少需要 {MIN_LENGTH} 个字符。")
        view = await self._set(ident, password_hash=await asyncio.to_thread(hash_password, password), failed_logins=0,
                               locked_until=None)
        async with self.engine.begin() as conn:  # older reset links die with the old password
            await conn.execute(update(t.portal_tokens).where(
                t.portal_tokens.c.user_id == view["id"], t.portal_tokens.c.purpose == "reset",
                t.portal_tokens.c.revoked_at.is_(None)).values(revoked_at=now_ms()))
        return view

    async def disable(self, ident: str) -> dict[str, Any]:
        return await self._set(ident, enabled=False)

    async def enable(self, ident: str) -> dict[str, Any]:
        return await self._set(ident, enabled=True, failed_logins=0, locked_until=None)

    async def sign_in(self, username: str, password: str) -> Principal:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(U).where(U.c.username == username.strip()))).first()
        row = await check_password(self.engine, U, row, password)
        if row.verify_pending:  # the password was right: saying so reveals nothing new
            raise SignInRefused("unverified")
        return Principal("user", row.id, row.username, HOLDER)

    async def get(self, ident: str) -> dict[str, Any]:
        return user_view(await self._row(ident))

    async def change_password(self, user_id: str, current: str, new: str, keep: str | None = None) -> None:
        """The holder's own change: the current password first (wrong ones count toward the lock-out), then
        every other session of theirs and every open reset link ends."""
        row = await self._row(user_id)
        if row.password_hash:  # an account made by single sign-on has none yet
            try:
                await check_password(self.engine, U, row, current)
            except SignInRefused as exc:
                bad = exc.reason == "bad"
                raise InvalidInput("The current password is wrong." if bad else
                                   "Too many wrong passwords: the account is locked for 15 minutes.",
                                   "当前密码不正确。" if bad else "密码错误次数过多：账户已锁定 15 分钟。",
                                   status=403) from None
        password_hash = await asyncio.to_thread(hash_password, check_new_password(new))
        async with self.engine.begin() as conn:
            await conn.execute(update(U).where(U.c.id == row.id).values(password_hash=password_hash,
                                                                        updated_at=now_ms()))
            await conn.execute(update(t.portal_tokens).where(
                t.portal_tokens.c.user_id == row.id, t.portal_tokens.c.purpose == "reset",
                t.portal_tokens.c.revoked_at.is_(None)).values(revoked_at=now_ms()))
            await end_sessions(conn, row.id, keep)

    async def owner_of(self, user_id: str) -> str | None:
        """The owner a signed-in user acts for; None when the user was disabled or removed."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(U.c.owner_id, U.c.enabled).where(U.c.id == user_id))).first()
        return row.owner_id if row is not None and row.enabled else None
