"""Operator actions on channels and the model catalogue, shared by the CLI and the admin REST API."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from relaygate.core.clock import iso, now_ms
from relaygate.core.domain import MODEL_STATUSES
from relaygate.core.errors import InvalidInput
from relaygate.core.keys import mask_secret
from relaygate.services.operate.accounts import not_found
from relaygate.store import tables as t
from relaygate.store.db import bump_config_version

CHANNEL_FIELDS = ("name", "protocol", "base_url", "secrets", "models", "groups", "priority", "weight",
                  "enabled", "disabled_reason", "connect_timeout", "first_byte_timeout", "total_timeout",
                  "options")


def channel_view(row: Any, health: Any = None) -> dict[str, Any]:
    return {
        "id": row.id, "name": row.name, "protocol": row.protocol, "base_url": row.base_url,
        "secrets": [mask_secret(s) for s in (row.secrets or [])], "models": row.models,
        "groups": row.groups, "priority": row.priority, "weight": row.weight, "enabled": bool(row.enabled),
        "disabled_reason": row.disabled_reason, "timeouts": {
            "connect": row.connect_timeout, "first_byte": row.first_byte_timeout, "total": row.total_timeout},
        "options": row.options, "updated_at": iso(row.updated_at),
        "health": {"state": health.state if health else "healthy", "reason": health.reason if health else None,
                   "consecutive_failures": health.consecutive_failures if health else 0,
                   "cooldown_until": iso(health.cooldown_until) if health and health.cooldown_until else None,
                   "updated_at": iso(health.updated_at) if health else None},
    }


CAPABILITIES = {"reasoning": "a reasoning model (OpenAI o-series, gpt-5): it gets max_completion_tokens and "
                             "no sampling knobs; false: it gets no reasoning_effort"}


def check_capabilities(values: dict[str, Any] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    unknown = sorted(set(values) - set(CAPABILITIES))
    if unknown or not all(isinstance(v, bool) for v in values.values()):
        raise InvalidInput(f"Model capabilities are {', '.join(CAPABILITIES)} (true or false); got "
                           f"{', '.join(unknown) or 'a value that is not true or false'}.",
                           f"模型能力只能是 {', '.join(CAPABILITIES)}（true 或 false）；收到 "
                           f"{', '.join(unknown) or '非 true/false 的值'}。")
    return dict(values)


def model_view(row: Any) -> dict[str, Any]:
    return {"name": row.name, "aliases": row.aliases or [], "status": row.status,
            "replacement": row.replacement, "description": row.description,
            "capabilities": getattr(row, "capabilities", None) or {}}


def normalize_channel(values: dict[str, Any], protocols: list[str], partial: bool = False) -> dict[str, Any]:
    """Check and normalise channel fields; raises InvalidInput that says what to fix."""
    out = {k: v for k, v in values.items() if k in CHANNEL_FIELDS and v is not None}
    if not partial:
        for required in ("name", "base_url", "secrets", "models"):
            if not out.get(required):
                raise InvalidInput(f"A channel needs '{required}'.", f"渠道缺少 '{required}'。")
    if "protocol" in out and out["protocol"] not in protocols:
        raise InvalidInput(f"Unknown protocol '{out['protocol']}'; known: {', '.join(protocols)}.",
                           f"未知协议 '{out['protocol']}'；可用：{', '.join(protocols)}。")
    if "base_url" in out:
        parsed = urlparse(out["base_url"])
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise InvalidInput(f"Base URL '{out['base_url']}' must be http(s)://host[:port]/path.",
                               f"Base URL '{out['base_url']}' 必须形如 http(s)://主机[:端口]/路径。")
        out["base_url"] = out["base_url"].rstrip("/")
    if "secrets" in out:
        secrets = out["secrets"]
        if isinstance(secrets, str):
            secrets = [s for s in secrets.replace(",", "\n").splitlines()]
        out["secrets"] = [s.strip() for s in secrets if s and s.strip()]
        if not out["secrets"] and not partial:
            raise InvalidInput("A channel needs at least one upstream secret.", "渠道至少需要一个上游密钥。")
    if "models" in out:
        models = out["models"]
        if isinstance(models, list):
            models = {m: m for m in models}
        if not isinstance(models, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                    for k, v in models.items()):
            raise InvalidInput("Channel models must be a list of names or a map public name -> upstream name.",
                               "渠道模型必须是名称列表，或“公开名 -> 上游名”的映射。")
        out["models"] = {k.strip(): (v.strip() or k.strip()) for k, v in models.items() if k.strip()}
    if "groups" in out and out["groups"] is not None:
        out["groups"] = sorted({g.strip() for g in out["groups"] if g.strip()}) or None
    for name in ("connect_timeout", "first_byte_timeout", "total_timeout"):
        if name in out and float(out[name]) <= 0:
            raise InvalidInput(f"{name} must be positive.", f"{name} 必须为正数。")
    if "weight" in out and int(out["weight"]) < 0:
        raise InvalidInput("weight must be 0 or more.", "weight 必须 ≥ 0。")
    return out


class RoutingAdmin:
    def __init__(self, engine: AsyncEngine, protocols: list[str]) -> None:
        self.engine = engine
        self.protocols = protocols

    # --- channels ---------------------------------------------------------------------------

    async def resolve_channel(self, conn: AsyncConnection, ident: str | int) -> Any:
        cond = t.channels.c.name == str(ident)
        if str(ident).isdigit():
            cond = cond | (t.channels.c.id == int(ident))
        row = (await conn.execute(select(t.channels).where(cond))).first()
        if row is None:
            raise not_found("channel", ident)
        return row

    async def create_channel(self, **values: Any) -> dict[str, Any]:
        data = normalize_channel({"protocol": "openai", **values}, self.protocols)
        async with self.engine.begin() as conn:
            await self._insert_channel(conn, data)
            await bump_config_version(conn)
            row = await self.resolve_channel(conn, data["name"])
        return channel_view(row)

    @staticmethod
    async def _insert_channel(conn: AsyncConnection, data: dict[str, Any]) -> None:
        if (await conn.execute(select(t.channels.c.id).where(t.channels.c.name == data["name"]))).first():
            raise InvalidInput(f"A channel named '{data['name']}' already exists.",
                               f"已存在名为 '{data['name']}' 的渠道。", status=409)
        now = now_ms()
        defaults = {"protocol": "openai", "priority": 0, "weight": 1, "enabled": True, "groups": None,
                    "connect_timeout": 10.0, "first_byte_timeout": 60.0, "total_timeout": 600.0,
                    "options": None}
        await conn.execute(t.channels.insert().values(**{**defaults, **data, "created_at": now,
                                                          "updated_at": now}))

    async def update_channel(self, ident: str | int, **values: Any) -> dict[str, Any]:
        data = normalize_channel(values, self.protocols, partial=True)
        if "groups" in values and values["groups"] is None:
            data["groups"] = None
        if data.get("enabled") is True:
            data["disabled_reason"] = None
        async with self.engine.begin() as conn:
            row = await self.resolve_channel(conn, ident)
            data["updated_at"] = now_ms()
            await conn.execute(t.channels.update().where(t.channels.c.id == row.id).values(**data))
            if data.get("enabled") is True:
                await conn.execute(delete(t.channel_health).where(t.channel_health.c.channel_id == row.id))
            await bump_config_version(conn)
            row = await self.resolve_channel(conn, row.id)
        return channel_view(row)

    async def delete_channel(self, ident: str | int) -> None:
        async with self.engine.begin() as conn:
            row = await self.resolve_channel(conn, ident)
            await conn.execute(delete(t.channels).where(t.channels.c.id == row.id))
            await conn.execute(delete(t.channel_health).where(t.channel_health.c.channel_id == row.id))
            await bump_config_version(conn)

    async def list_channels(self) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            health = {h.channel_id: h for h in await conn.execute(select(t.channel_health))}
            rows = (await conn.execute(select(t.channels).order_by(t.channels.c.priority.desc(),
                                                                   t.channels.c.id))).all()
        return [channel_view(r, health.get(r.id)) for r in rows]

    async def get_channel(self, ident: str | int) -> dict[str, Any]:
        async with self.engine.connect() as conn:
            row = await self.resolve_channel(conn, ident)
            health = (await conn.execute(select(t.channel_health).where(
                t.channel_health.c.channel_id == row.id))).first()
        return channel_view(row, health)

    # --- models -----------------------------------------------------------------------------

    async def upsert_model(self, name: str, aliases: list[str] | None = None, status: str = "active",
                           replacement: str | None = None, description: str | None = None,
                           capabilities: dict[str, Any] | None = None) -> dict[str, Any]:
        if status not in MODEL_STATUSES:
            raise InvalidInput(f"Model status must be one of {', '.join(MODEL_STATUSES)}.",
                               f"模型状态必须是 {', '.join(MODEL_STATUSES)} 之一。")
        if status == "unsupported" and not replacement:
            raise InvalidInput("An unsupported model needs a replacement to suggest (--replacement).",
                               "标记为不支持的模型需要指定替代模型（--replacement）。")
        caps = check_capabilities(capabilities)
        async with self.engine.begin() as conn:
            await self._upsert_model(conn, name, aliases or [], status, replacement, description, capabilities=caps)
            await bump_config_version(conn)
            row = (await conn.execute(select(t.models).where(t.models.c.name == name))).one()
        return model_view(row)

    @staticmethod
    async def _upsert_model(conn: AsyncConnection, name: str, aliases: list[str], status: str,
                            replacement: str | None, description: str | None, *,
                            capabilities: dict[str, Any] | None = None) -> None:
        others = (await conn.execute(select(t.models.c.name, t.models.c.aliases).where(
            t.models.c.name != name))).all()
        taken = {a: r.name for r in others for a in (r.aliases or [])} | {r.name: r.name for r in others}
        for alias in aliases:
            if alias in taken:
                raise InvalidInput(f"'{alias}' is already the name or an alias of model '{taken[alias]}'.",
                                   f"'{alias}' 已是模型 '{taken[alias]}' 的名称或别名。", status=409)
        now = now_ms()
        values: dict[str, Any] = {"aliases": sorted(set(aliases)), "status": status, "replacement": replacement,
                                  "description": description, "updated_at": now}
        if capabilities is not None:  # None keeps what the model had
            values["capabilities"] = capabilities or None
        updated = await conn.execute(t.models.update().where(t.models.c.name == name).values(**values))
        if updated.rowcount == 0:
            await conn.execute(t.models.insert().values(name=name, created_at=now, **values))

    async def list_models(self) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(t.models).order_by(t.models.c.name))).all()
            channels = (await conn.execute(select(t.channels.c.name, t.channels.c.models,
                                                  t.channels.c.enabled))).all()
        served: dict[str, list[str]] = {}
        for ch in channels:
            for public in ch.models or {}:
                served.setdefault(public, []).append(ch.name + ("" if ch.enabled else " (disabled)"))
        views = {r.name: {**model_view(r), "channels": served.get(r.name, [])} for r in rows}
        for public, names in served.items():
            views.setdefault(public, {"name": public, "aliases": [], "status": "active", "replacement": None,
                                      "description": None, "channels": names, "implicit": True})
        return sorted(views.values(), key=lambda v: v["name"])

    async def delete_model(self, name: str) -> None:
        async with self.engine.begin() as conn:
            result = await conn.execute(delete(t.models).where(t.models.c.name == name))
            if result.rowcount == 0:
                raise not_found("model", name)
            await bump_config_version(conn)
