"""Operator actions on owners, groups and keys, shared by the CLI and the admin REST API."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from relaygate.core.clock import iso, now_ms
from relaygate.core.domain import ENVIRONMENTS, OWNER_KINDS, parse_networks
from relaygate.core.errors import InvalidInput
from relaygate.core.ids import short_id
from relaygate.core.keys import generate_admin_token, generate_key, hash_secret, key_hash, key_id_for, mask_key
from relaygate.core.money import MoneyError, parse_amount, plain_amount
from relaygate.store import tables as t
from relaygate.store.db import bump_config_version


def not_found(what: str, ident: object) -> InvalidInput:
    return InvalidInput(f"No {what} '{ident}'.", f"找不到{_ZH.get(what, what)} '{ident}'。", status=404)


_ZH = {"owner": "负责人", "group": "分组", "key": "密钥", "channel": "渠道", "model": "模型"}


def key_view(row: Any) -> dict[str, Any]:
    return {
        "id": row.id, "masked": row.masked, "name": row.name, "owner_id": row.owner_id,
        "group": row.group_name, "environment": row.environment, "enabled": bool(row.enabled),
        "disabled_reason": row.disabled_reason, "expires_at": iso(row.expires_at),
        "allowed_models": row.allowed_models, "allowed_networks": row.allowed_networks,
        "source": row.source, "created_at": iso(row.created_at), "updated_at": iso(row.updated_at),
        "caps": {"total": _money(row.cap_total), "daily": _money(row.cap_daily),
                 "monthly": _money(row.cap_monthly)},
        "limits": {"rpm": row.rpm, "tpm": row.tpm, "concurrency": row.concurrency},
    }


def _money(value: int | None) -> str | None:
    return None if value is None else plain_amount(value)


def owner_view(row: Any) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "kind": row.kind, "email": row.email, "note": row.note,
            "created_at": iso(row.created_at)}


def group_view(row: Any) -> dict[str, Any]:
    return {"name": row.name, "description": row.description, "models": row.models,
            "multiplier": str(row.multiplier_ppm / 1_000_000), "rpm": row.rpm, "tpm": row.tpm,
            "concurrency": row.concurrency, "created_at": iso(row.created_at)}


class AccountsAdmin:
    """Owners, groups, keys and admin tokens. Every write bumps the config version."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    # --- owners -----------------------------------------------------------------------------

    async def create_owner(self, name: str, kind: str = "person", email: str | None = None,
                           note: str | None = None) -> dict[str, Any]:
        if kind not in OWNER_KINDS:
            raise InvalidInput(f"Owner kind must be one of {', '.join(OWNER_KINDS)}.",
                               f"负责人类型必须是 {', '.join(OWNER_KINDS)} 之一。")
        name = name.strip()
        if not name:
            raise InvalidInput("An owner needs a name.", "负责人需要名称。")
        async with self.engine.begin() as conn:
            if (await conn.execute(select(t.owners.c.id).where(t.owners.c.name == name))).first():
                raise InvalidInput(f"An owner named '{name}' already exists.", f"已存在名为 '{name}' 的负责人。",
                                   status=409)
            now = now_ms()
            values = {"id": short_id("own"), "name": name, "kind": kind, "email": email, "note": note,
                      "created_at": now, "updated_at": now}
            await conn.execute(t.owners.insert().values(**values))
            await bump_config_version(conn)
        return owner_view(_Row(values))

    async def resolve_owner(self, conn: AsyncConnection, ident: str) -> Any:
        row = (await conn.execute(select(t.owners).where(
            (t.owners.c.id == ident) | (t.owners.c.name == ident)))).first()
        if row is None:
            raise not_found("owner", ident)
        return row

    async def list_owners(self) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            counts: dict[str, int] = dict((await conn.execute(
                select(t.api_keys.c.owner_id, func.count()).group_by(t.api_keys.c.owner_id))).all())
            rows = (await conn.execute(select(t.owners).order_by(t.owners.c.name))).all()
        return [{**owner_view(r), "keys": counts.get(r.id, 0)} for r in rows]

    async def delete_owner(self, ident: str) -> None:
        async with self.engine.begin() as conn:
            row = await self.resolve_owner(conn, ident)
            keys = (await conn.execute(select(func.count()).where(t.api_keys.c.owner_id == row.id))).scalar()
            if keys:
                raise InvalidInput(f"Owner '{row.name}' still holds {keys} key(s); delete or move them first.",
                                   f"负责人 '{row.name}' 仍持有 {keys} 个密钥，请先删除或转移。", status=409)
            await conn.execute(delete(t.owners).where(t.owners.c.id == row.id))
            await bump_config_version(conn)

    # --- groups -----------------------------------------------------------------------------

    async def upsert_group(self, name: str, models: list[str] | None = None,
                           description: str | None = None) -> dict[str, Any]:
        name = name.strip()
        if not name:
            raise InvalidInput("A group needs a name.", "分组需要名称。")
        async with self.engine.begin() as conn:
            await self._upsert_group(conn, name, models, description)
            await bump_config_version(conn)
            row = (await conn.execute(select(t.groups).where(t.groups.c.name == name))).one()
        return group_view(row)

    @staticmethod
    async def _upsert_group(conn: AsyncConnection, name: str, models: list[str] | None,
                            description: str | None) -> None:
        now = now_ms()
        values = {"models": sorted(set(models)) if models is not None else None, "description": description,
                  "updated_at": now}
        updated = await conn.execute(t.groups.update().where(t.groups.c.name == name).values(**values))
        if updated.rowcount == 0:
            await conn.execute(t.groups.insert().values(name=name, created_at=now, **values))

    async def list_groups(self) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(t.groups).order_by(t.groups.c.name))).all()
        return [group_view(r) for r in rows]

    async def delete_group(self, name: str) -> None:
        async with self.engine.begin() as conn:
            used = (await conn.execute(select(func.count()).where(t.api_keys.c.group_name == name))).scalar()
            if used:
                raise InvalidInput(f"Group '{name}' is used by {used} key(s); move them first.",
                                   f"分组 '{name}' 仍被 {used} 个密钥使用，请先转移。", status=409)
            result = await conn.execute(delete(t.groups).where(t.groups.c.name == name))
            if result.rowcount == 0:
                raise not_found("group", name)
            await bump_config_version(conn)

    # --- keys -------------------------------------------------------------------------------

    async def create_key(self, name: str, owner: str, group: str = "default",
                         environment: str = "production", expires_at: int | None = None,
                         allowed_models: list[str] | None = None,
                         allowed_networks: list[str] | None = None,
                         secret: str | None = None, source: str = "native",
                         **terms: Any) -> tuple[dict[str, Any], str]:
        """Create a key; returns its view and the secret, which is shown this once and never stored."""
        async with self.engine.begin() as conn:
            return await self.insert_key(conn, name, owner, group, environment, expires_at, allowed_models,
                                         allowed_networks, secret, source, **terms)

    async def insert_key(self, conn: AsyncConnection, name: str, owner: str, group: str = "default",
                         environment: str = "production", expires_at: int | None = None,
                         allowed_models: list[str] | None = None, allowed_networks: list[str] | None = None,
                         secret: str | None = None, source: str = "native",
                         **terms: Any) -> tuple[dict[str, Any], str]:
        """``create_key`` inside the caller's transaction (a key holder's own key: bounds checked in the same one)."""
        _check_key_fields(environment, allowed_networks)
        secret = secret or generate_key()
        hashed = key_hash(secret)
        owner_row = await self.resolve_owner(conn, owner)
        await self._require_group(conn, group)
        if (await conn.execute(select(t.api_keys.c.id).where(t.api_keys.c.key_hash == hashed))).first():
            raise InvalidInput("That key already exists.", "该密钥已存在。", status=409)
        now = now_ms()
        values = {"id": key_id_for(hashed), "key_hash": hashed, "masked": mask_key(secret),
                  "name": name, "owner_id": owner_row.id, "group_name": group,
                  "environment": environment, "enabled": True, "disabled_reason": None,
                  "expires_at": expires_at, "allowed_models": allowed_models or None,
                  "allowed_networks": allowed_networks or None, "source": source,
                  "created_at": now, "updated_at": now, **dict.fromkeys(KEY_TERMS), **_key_terms(terms)}
        await conn.execute(t.api_keys.insert().values(**values))
        await bump_config_version(conn)
        return key_view(_Row(values)), secret

    @staticmethod
    async def _require_group(conn: AsyncConnection, group: str) -> None:
        if not (await conn.execute(select(t.groups.c.name).where(t.groups.c.name == group))).first():
            raise InvalidInput(f"No group '{group}'. Create it first (relaygate groups add {group}).",
                               f"分组 '{group}' 不存在，请先创建（relaygate groups add {group}）。", status=404)

    async def resolve_key(self, conn: AsyncConnection, ident: str) -> Any:
        """A key by id, by full secret (hashed), or by its masked form if that is unambiguous."""
        cond = (t.api_keys.c.id == ident) | (t.api_keys.c.key_hash == key_hash(ident))
        if "…" in ident or "..." in ident:
            cond = cond | (t.api_keys.c.masked == ident.replace("...", "…"))
        rows = (await conn.execute(select(t.api_keys).where(cond))).all()
        if len(rows) != 1:
            if len(rows) > 1:
                raise InvalidInput(f"'{ident}' matches {len(rows)} keys; use the key id.",
                                   f"'{ident}' 匹配到 {len(rows)} 个密钥，请使用密钥 ID。", status=409)
            raise not_found("key", ident)
        return rows[0]

    async def get_key(self, ident: str) -> dict[str, Any]:
        async with self.engine.connect() as conn:
            return key_view(await self.resolve_key(conn, ident))

    async def list_keys(self, owner: str | None = None, group: str | None = None) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            query = select(t.api_keys).order_by(t.api_keys.c.created_at)
            if owner:
                query = query.where(t.api_keys.c.owner_id == (await self.resolve_owner(conn, owner)).id)
            if group:
                query = query.where(t.api_keys.c.group_name == group)
            rows = (await conn.execute(query)).all()
        return [key_view(r) for r in rows]

    async def update_key(self, ident: str, **changes: Any) -> dict[str, Any]:
        allowed = {"name", "group_name", "environment", "enabled", "disabled_reason", "expires_at",
                   "allowed_models", "allowed_networks", "owner_id"}
        values = {k: v for k, v in changes.items() if k in allowed}
        values.update(_key_terms({k: v for k, v in changes.items() if k in KEY_TERMS}))
        _check_key_fields(values.get("environment", "production"), values.get("allowed_networks"))
        async with self.engine.begin() as conn:
            row = await self.resolve_key(conn, ident)
            if "group_name" in values:
                await self._require_group(conn, values["group_name"])
            if "owner_id" in values:
                values["owner_id"] = (await self.resolve_owner(conn, values["owner_id"])).id
            if values.get("enabled") is True:
                values["disabled_reason"] = None
            values["updated_at"] = now_ms()
            await conn.execute(t.api_keys.update().where(t.api_keys.c.id == row.id).values(**values))
            await bump_config_version(conn)
            return key_view((await conn.execute(select(t.api_keys).where(t.api_keys.c.id == row.id))).one())

    async def delete_key(self, ident: str) -> None:
        async with self.engine.begin() as conn:
            row = await self.resolve_key(conn, ident)
            await conn.execute(delete(t.api_keys).where(t.api_keys.c.id == row.id))
            await bump_config_version(conn)

    # --- admin tokens -----------------------------------------------------------------------

    async def create_admin_token(self, name: str, token: str | None = None) -> str:
        token = token or generate_admin_token()
        async with self.engine.begin() as conn:
            await conn.execute(t.admin_tokens.insert().values(
                id=short_id("adm"), name=name, token_hash=hash_secret(token), created_at=now_ms()))
        return token

    async def admin_token_hashes(self) -> set[str]:
        async with self.engine.connect() as conn:
            return {r[0] for r in await conn.execute(select(t.admin_tokens.c.token_hash))}


KEY_TERMS = ("cap_total", "cap_daily", "cap_monthly", "rpm", "tpm", "concurrency")


def _key_terms(terms: dict[str, Any]) -> dict[str, Any]:
    """Key caps (decimal strings or nanos) and limits (positive ints); None clears one."""
    out: dict[str, Any] = {}
    for name, value in terms.items():
        if name not in KEY_TERMS:
            raise InvalidInput(f"Unknown key setting '{name}'.", f"未知的密钥设置 '{name}'。")
        if value is None:
            out[name] = None
        elif name.startswith("cap_"):
            try:
                out[name] = value if isinstance(value, int) else parse_amount(value)
            except MoneyError as exc:
                raise InvalidInput(f"{name}: {exc}", f"{name} 金额无效：{value}") from exc
            if out[name] < 0:
                raise InvalidInput(f"{name} cannot be negative.", f"{name} 不能为负数。")
        else:
            if int(value) <= 0:
                raise InvalidInput(f"{name} must be positive.", f"{name} 必须为正数。")
            out[name] = int(value)
    return out


def _check_key_fields(environment: str, networks: list[str] | None) -> None:
    if environment not in ENVIRONMENTS:
        raise InvalidInput(f"Environment must be one of {', '.join(ENVIRONMENTS)}.",
                           f"环境必须是 {', '.join(ENVIRONMENTS)} 之一。")
    try:
        parse_networks(networks)
    except ValueError as exc:
        raise InvalidInput(str(exc), f"网络限制无效：{exc}") from exc


class _Row:
    """Attribute access over a dict, so freshly inserted values render like fetched rows."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)
