"""Operators (people who sign in to the console) and their passwords, with throttled, locking sign-in.

The CLI (`relaygate operators …`), the admin API and the console call these; the sign-in check is the
one the key-holder portal reuses for its users (same hashing, same lockout rules).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, NoReturn

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.clock import iso, now_ms
from relaygate.core.errors import InvalidInput
from relaygate.core.ids import short_id
from relaygate.core.keys import generate_admin_token, hash_secret
from relaygate.core.passwords import MIN_LENGTH, dummy_verify, hash_password, is_bcrypt, verify_password
from relaygate.services.operate.roles import ROLES
from relaygate.store import tables as t
from relaygate.store.db import bump_config_version

OPS = t.operators
LOCK_AFTER = 5  # failed sign-ins in a row
LOCK_MS = 15 * 60 * 1000


def operator_view(row: Any) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "role": row.role, "enabled": bool(row.enabled), "source": row.source,
            "locked_until": iso(row.locked_until) if row.locked_until and row.locked_until > now_ms() else None,
            "last_login_at": iso(row.last_login_at), "created_at": iso(row.created_at)}


@dataclass(frozen=True)
class Principal:
    """Who a sign-in proved to be."""

    kind: str  # operator | token
    id: str
    name: str
    role: str


class SignInRefused(Exception):
    def __init__(self, reason: str) -> None:  # bad | locked
        super().__init__(reason)
        self.reason = reason


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidInput(f"Role must be one of {', '.join(ROLES)}.", f"角色必须是 {', '.join(ROLES)} 之一。")


def _check_password(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise InvalidInput(f"A password needs at least {MIN_LENGTH} characters.",
                           f"密码至少需要 {MIN_LENGTH} 个字符。")


async def check_password(engine: AsyncEngine, table: Any, row: Any, password: str) -> Any:
    """The one sign-in rule for operators and portal users: an unknown name costs a check's time, five
    wrong passwords in a row lock the account for 15 minutes, a success clears the count.

    The hash check (bcrypt or scrypt, 50-250 ms of CPU) runs in a worker thread, both libraries release
    the GIL, so a sign-in never stalls the relay on the same event loop. Since sign-ins now overlap,
    the count is kept by the database: each failure adds one in an UPDATE, the fifth locks, and a right
    password that arrives while another attempt locked the account is still refused."""
    now = now_ms()
    if row is None:
        await asyncio.to_thread(dummy_verify, password)
        raise SignInRefused("bad")
    if row.locked_until and row.locked_until > now:
        raise SignInRefused("locked")
    if not row.enabled or not await asyncio.to_thread(verify_password, password, row.password_hash):
        await _count_failure(engine, table, row.id)
    async with engine.begin() as conn:
        done = await conn.execute(update(table).where(
            (table.c.id == row.id) & ((table.c.locked_until.is_(None)) | (table.c.locked_until <= now))).values(
            failed_logins=0, locked_until=None, last_login_at=now))
        if done.rowcount == 0:  # locked (or gone) while the hash was checked
            raise SignInRefused("locked")
    return row


async def _count_failure(engine: AsyncEngine, table: Any, row_id: str) -> NoReturn:
    now = now_ms()
    open_ = (table.c.id == row_id) & ((table.c.locked_until.is_(None)) | (table.c.locked_until <= now))
    reason = "bad"
    async with engine.begin() as conn:  # commits before the refusal is raised
        counted = await conn.execute(update(table).where(open_).values(failed_logins=table.c.failed_logins + 1))
        if counted.rowcount == 0:  # another attempt locked it meanwhile
            reason = "locked"
        elif int((await conn.execute(select(table.c.failed_logins).where(
                table.c.id == row_id))).scalar_one()) >= LOCK_AFTER:
            await conn.execute(update(table).where(table.c.id == row_id).values(
                failed_logins=0, locked_until=now + LOCK_MS))
            reason = "locked"
    raise SignInRefused(reason)


class OperatorsAdmin:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def add(self, name: str, role: str, password: str, *, password_hash: str | None = None,
                  source: str = "native") -> dict[str, Any]:
        name = name.strip()
        if not name:
            raise InvalidInput("An operator needs a name.", "操作员需要名称。")
        _check_role(role)
        if password_hash is None:
            _check_password(password)
            password_hash = await asyncio.to_thread(hash_password, password)
        async with self.engine.begin() as conn:
            if (await conn.execute(select(OPS.c.id).where(OPS.c.name == name))).first():
                raise InvalidInput(f"An operator named '{name}' already exists.", f"已存在名为 '{name}' 的操作员。",
                                   status=409)
            now = now_ms()
            values = {"id": short_id("op"), "name": name, "password_hash": password_hash, "role": role,
                      "enabled": True, "source": source, "failed_logins": 0, "locked_until": None,
                      "last_login_at": None, "created_at": now, "updated_at": now}
            await conn.execute(OPS.insert().values(**values))
            row = (await conn.execute(select(OPS).where(OPS.c.id == values["id"]))).one()
        return operator_view(row)

    async def import_hashed(self, name: str, role: str, password_hash: str, source: str) -> dict[str, Any] | None:
        """An admin user of One API / New API keeps their bcrypt hash; None when the name already exists."""
        if not is_bcrypt(password_hash):
            raise InvalidInput("Only bcrypt hashes can be imported.", "只能导入 bcrypt 哈希。")
        try:
            return await self.add(name, role, "", password_hash=password_hash, source=source)
        except InvalidInput as exc:
            if exc.status == 409:
                return None
            raise

    async def _get(self, ident: str) -> Any:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(OPS).where((OPS.c.id == ident) | (OPS.c.name == ident)))).first()
        if row is None:
            raise InvalidInput(f"No operator '{ident}'.", f"找不到操作员 '{ident}'。", status=404)
        return row

    async def get(self, ident: str) -> dict[str, Any]:
        return operator_view(await self._get(ident))

    async def list(self) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(OPS).order_by(OPS.c.name))).all()
        return [operator_view(r) for r in rows]

    async def _set(self, ident: str, **values: Any) -> dict[str, Any]:
        row = await self._get(ident)
        async with self.engine.begin() as conn:
            await conn.execute(update(OPS).where(OPS.c.id == row.id).values(updated_at=now_ms(), **values))
        return await self.get(row.id)

    async def passwd(self, ident: str, password: str) -> dict[str, Any]:
        _check_password(password)
        password_hash = await asyncio.to_thread(hash_password, password)
        return await self._set(ident, password_hash=password_hash, failed_logins=0, locked_until=None)

    async def set_role(self, ident: str, role: str) -> dict[str, Any]:
        _check_role(role)
        return await self._set(ident, role=role)

    async def disable(self, ident: str) -> dict[str, Any]:
        return await self._set(ident, enabled=False)

    async def enable(self, ident: str) -> dict[str, Any]:
        return await self._set(ident, enabled=True, failed_logins=0, locked_until=None)

    async def sign_in(self, name: str, password: str, admin_hashes: set[str]) -> Principal:
        """An operator's name and password, or (name empty or 'admin-token') an admin token.

        Five wrong passwords in a row lock the operator for 15 minutes; an unknown name costs the
        same time as a known one. Raises SignInRefused('bad' | 'locked').
        """
        name = name.strip()
        if password.startswith("rga-") and name in ("", "admin-token", "token"):
            if hash_secret(password) in admin_hashes:
                return Principal("token", hash_secret(password), "admin-token", "admin")
            raise SignInRefused("bad")
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(OPS).where(OPS.c.name == name))).first()
        row = await check_password(self.engine, OPS, row, password)
        return Principal("operator", row.id, row.name, row.role)

    async def still_valid(self, kind: str, subject_id: str, admin_hashes: set[str]) -> str | None:
        """The current role of a signed-in operator, None when disabled or gone (sessions end at once)."""
        if kind == "token":
            return "admin" if subject_id in admin_hashes else None
        if kind == "user":  # a portal user (operate/portal_users.py): the 'holder' role while enabled
            async with self.engine.connect() as conn:
                user = (await conn.execute(select(t.portal_users.c.enabled).where(
                    t.portal_users.c.id == subject_id))).first()
            return "holder" if user is not None and user.enabled else None
        if kind != "operator":
            return None
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(OPS.c.role, OPS.c.enabled).where(OPS.c.id == subject_id))).first()
        return row.role if row is not None and row.enabled else None


class AdminTokens:
    """Admin tokens (the API's bearer and a console sign-in): a lost one is replaced from the CLI."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def create(self, name: str) -> tuple[dict[str, Any], str]:
        token = generate_admin_token()
        now = now_ms()
        async with self.engine.begin() as conn:
            values: dict[str, Any] = {"id": short_id("adm"), "name": name.strip() or "admin",
                                      "token_hash": hash_secret(token), "created_at": now}
            await conn.execute(t.admin_tokens.insert().values(**values))
            await bump_config_version(conn)
        return {"id": values["id"], "name": values["name"], "created_at": iso(now)}, token

    async def list(self) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(t.admin_tokens).order_by(t.admin_tokens.c.created_at))).all()
        return [{"id": r.id, "name": r.name, "created_at": iso(r.created_at)} for r in rows]

    async def revoke(self, ident: str) -> dict[str, Any]:
        T = t.admin_tokens
        async with self.engine.begin() as conn:
            rows = (await conn.execute(select(T).where((T.c.id == ident) | (T.c.name == ident)))).all()
            if not rows:
                raise InvalidInput(f"No admin token '{ident}'.", f"找不到管理令牌 '{ident}'。", status=404)
            if len(rows) > 1:
                raise InvalidInput(f"Several admin tokens are named '{ident}'; revoke by id.",
                                   f"有多个名为 '{ident}' 的管理令牌，请按 ID 撤销。", status=409)
            await conn.execute(delete(T).where(T.c.id == rows[0].id))
            await conn.execute(update(t.web_sessions).where(
                t.web_sessions.c.subject_kind == "token", t.web_sessions.c.subject_id == rows[0].token_hash,
                t.web_sessions.c.revoked_at.is_(None)).values(revoked_at=now_ms()))
            await bump_config_version(conn)
        return {"id": rows[0].id, "name": rows[0].name, "revoked": True}
