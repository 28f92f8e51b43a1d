"""Key holders making and disabling their own keys, when the operator allows it for their owner.

The owner's policy (``owner_portal``, set by an operator from the console, ``relaygate users policy`` or
``PUT /api/owners/{owner}/portal``) says whether its key holders may create keys, how many enabled keys
the owner may hold at once, the group their keys join, the models they may be limited to, and the most
each cap, limit and lifetime may be. A key asked for beyond a bound is refused with the bound named; a
term left empty takes the bound (so a bounded owner never gets an unbounded key). Counting and inserting
happen in one transaction that first updates the policy row, so two keys made at once cannot both pass
the last free place. The secret is returned once; only its hash is stored. A holder may disable any key of
their own owner (never another owner's: such an id is not found), not enable one again.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.clock import now_ms
from relaygate.core.errors import InvalidInput
from relaygate.core.money import MoneyError, format_amount, parse_amount, plain_amount
from relaygate.services.operate.accounts import AccountsAdmin, key_view
from relaygate.store import tables as t
from relaygate.store.db import bump_config_version

P = t.owner_portal
K = t.api_keys
CAPS = ("cap_total", "cap_daily", "cap_monthly")
LIMITS = ("rpm", "tpm", "concurrency")
DAY_MS = 86_400_000
MAX_MODELS = 100


def policy_view(row: Any, currency: str) -> dict[str, Any]:
    if row is None:
        return {"self_keys": False, "max_keys": None, "group": "default", "models": None, "max_days": None,
                **{f"max_{c}": None for c in CAPS}, **{f"max_{c}_text": None for c in CAPS},
                **{f"max_{n}": None for n in LIMITS}}
    view: dict[str, Any] = {"self_keys": bool(row.self_keys), "max_keys": row.max_keys,
                            "group": row.group_name or "default", "models": row.models, "max_days": row.max_days}
    for cap in CAPS:
        value = getattr(row, f"max_{cap}")
        view[f"max_{cap}"] = plain_amount(value) if value is not None else None
        view[f"max_{cap}_text"] = format_amount(value, currency) if value is not None else None
    for name in LIMITS:
        view[f"max_{name}"] = getattr(row, f"max_{name}")
    return view


def _amount(name: str, value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        amount = value if isinstance(value, int) else parse_amount(str(value))
    except MoneyError as exc:
        raise InvalidInput(f"{name}: '{value}' is not an amount.", f"{name}：'{value}' 不是有效金额。") from exc
    if amount <= 0:
        raise InvalidInput(f"{name} must be positive.", f"{name} 必须为正数。")
    return amount


def _count(name: str, value: Any, top: int = 2**62) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{name} must be a whole number.", f"{name} 必须是整数。") from exc
    if not 0 < number <= top:
        raise InvalidInput(f"{name} must be between 1 and {top}.", f"{name} 必须在 1 到 {top} 之间。")
    return number


def _models(value: Any) -> list[str] | None:
    if value is None or value == "" or value == []:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    names = sorted({str(m).strip() for m in items if str(m).strip()})
    if len(names) > MAX_MODELS or any(len(m) > 128 for m in names):
        raise InvalidInput(f"At most {MAX_MODELS} model names of at most 128 characters.",
                           f"最多 {MAX_MODELS} 个模型名，每个不超过 128 个字符。")
    return names or None


class SelfKeys:
    def __init__(self, engine: AsyncEngine, currency: str) -> None:
        self.engine = engine
        self.currency = currency

    async def policy(self, owner_id: str) -> dict[str, Any]:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(P).where(P.c.owner_id == owner_id))).first()
        return policy_view(row, self.currency)

    async def policy_of(self, owner: str) -> dict[str, Any]:
        """An owner's policy by id or name (for operators)."""
        async with self.engine.connect() as conn:
            owner_row = await AccountsAdmin(self.engine).resolve_owner(conn, owner)
            row = (await conn.execute(select(P).where(P.c.owner_id == owner_row.id))).first()
        return {"owner_id": owner_row.id, "owner": owner_row.name, **policy_view(row, self.currency)}

    async def policies(self) -> list[dict[str, Any]]:
        """Every owner with a policy row, by owner name."""
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(P, t.owners.c.name.label("owner_name"))
                                       .join(t.owners, t.owners.c.id == P.c.owner_id)
                                       .order_by(t.owners.c.name))).all()
        return [{"owner_id": r.owner_id, "owner": r.owner_name, **policy_view(r, self.currency)} for r in rows]

    async def set_policy(self, owner: str, actor: str, **changes: Any) -> dict[str, Any]:
        """An operator's change to an owner's policy; absent fields keep their value, None clears a bound."""
        values: dict[str, Any] = {}
        for name, value in changes.items():
            if name == "self_keys":
                values["self_keys"] = bool(value)
            elif name == "max_keys":
                values["max_keys"] = _count("max_keys", value, 10_000)
            elif name == "max_days":
                values["max_days"] = _count("max_days", value, 36_500)
            elif name == "group":
                values["group_name"] = (value or "").strip() or None
            elif name == "models":
                values["models"] = _models(value)
            elif name in tuple(f"max_{c}" for c in CAPS):
                values[name] = _amount(name, value)
            elif name in tuple(f"max_{n}" for n in LIMITS):
                values[name] = _count(name, value)
            else:
                raise InvalidInput(f"Unknown portal setting '{name}'.", f"未知的门户设置 '{name}'。")
        async with self.engine.begin() as conn:
            owner_row = await AccountsAdmin(self.engine).resolve_owner(conn, owner)
            if values.get("group_name"):
                await AccountsAdmin._require_group(conn, values["group_name"])
            now = now_ms()
            result = await conn.execute(update(P).where(P.c.owner_id == owner_row.id).values(
                updated_by=actor[:128], updated_at=now, **values))
            if result.rowcount == 0:
                await conn.execute(P.insert().values(owner_id=owner_row.id, keys_created=0, updated_by=actor[:128],
                                                     updated_at=now, **{"self_keys": False, **values}))
            row = (await conn.execute(select(P).where(P.c.owner_id == owner_row.id))).one()
        return {"owner_id": owner_row.id, "owner": owner_row.name, **policy_view(row, self.currency)}

    async def create(self, owner_id: str, actor: str, name: str, *, models: Any = None, days: Any = None,
                     **terms: Any) -> tuple[dict[str, Any], str]:
        """A key holder's new key within the owner's bounds; returns its view and the secret (shown once)."""
        name = (name or "").strip()
        if not 1 <= len(name) <= 64:
            raise InvalidInput("Give the key a name of 1 to 64 characters.", "请为密钥起一个 1 到 64 个字符的名称。")
        asked_models = _models(models)
        asked_days = _count("days", days, 36_500)
        asked: dict[str, int | None] = {}
        for cap in CAPS:
            asked[cap] = _amount(cap, terms.pop(cap, None))
        for limit in LIMITS:
            asked[limit] = _count(limit, terms.pop(limit, None))
        if terms:
            raise InvalidInput(f"Unknown key setting '{next(iter(terms))}'.", f"未知的密钥设置 '{next(iter(terms))}'。")
        now = now_ms()
        async with self.engine.begin() as conn:
            # the update takes the owner's row lock (the write lock on SQLite) before counting
            touched = await conn.execute(update(P).where(P.c.owner_id == owner_id, P.c.self_keys.is_(True))
                                         .values(keys_created=P.c.keys_created + 1))
            if touched.rowcount != 1:
                raise InvalidInput("Your administrator has not allowed creating keys here; ask them for one.",
                                   "管理员未允许在这里自行创建密钥，请向管理员申请。", status=403)
            policy = (await conn.execute(select(P).where(P.c.owner_id == owner_id))).one()
            live = (await conn.execute(select(func.count()).select_from(K).where(
                K.c.owner_id == owner_id, K.c.enabled.is_(True),
                or_(K.c.expires_at.is_(None), K.c.expires_at > now)))).scalar_one()
            if policy.max_keys is not None and live >= policy.max_keys:
                raise InvalidInput(f"Your owner already holds {live} enabled keys, the most allowed "
                                   f"({policy.max_keys}); disable one first.",
                                   f"你的账户已有 {live} 个启用的密钥，已达上限（{policy.max_keys}），请先停用一个。",
                                   status=409)
            granted = self._bounded(policy, asked, asked_days, asked_models)
            days_granted = granted.pop("days")
            models_granted = granted.pop("models")
            view, secret = await AccountsAdmin(self.engine).insert_key(
                conn, name, owner_id, policy.group_name or "default", "production",
                now + days_granted * DAY_MS if days_granted else None, models_granted, None, None, "portal",
                **granted)
        view["created_by"] = actor
        return {k: view[k] for k in ("id", "masked", "name", "group", "enabled", "expires_at", "allowed_models",
                                     "caps", "limits", "created_at", "created_by")}, secret

    def _bounded(self, policy: Any, asked: dict[str, int | None], days: int | None,
                 models: list[str] | None) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in asked.items():
            bound = getattr(policy, f"max_{name}")
            if bound is not None and value is not None and value > bound:
                shown = format_amount(bound, self.currency) if name in CAPS else str(bound)
                raise InvalidInput(f"{name} may be at most {shown} here.", f"这里的 {name} 最多为 {shown}。")
            out[name] = value if value is not None else bound
        if policy.max_days is not None and days is not None and days > policy.max_days:
            raise InvalidInput(f"A key may live at most {policy.max_days} days here.",
                               f"这里的密钥有效期最多为 {policy.max_days} 天。")
        out["days"] = days if days is not None else policy.max_days
        if policy.models is not None:
            outside = sorted(set(models or ()) - set(policy.models))
            if outside:
                raise InvalidInput(f"Models not allowed here: {', '.join(outside)}. Allowed: "
                                   f"{', '.join(policy.models)}.",
                                   f"这里不允许的模型：{', '.join(outside)}。允许：{', '.join(policy.models)}。")
            models = models or list(policy.models)
        out["models"] = models
        return out

    async def disable(self, owner_id: str, key_id: str, actor: str) -> dict[str, Any]:
        """Disable one of the owner's keys; an id of another owner is not found, as an unknown one."""
        async with self.engine.begin() as conn:
            row = (await conn.execute(select(K).where(K.c.id == key_id, K.c.owner_id == owner_id))).first()
            if row is None:
                raise InvalidInput(f"No key {key_id} among your keys.", f"你的密钥中没有 {key_id}。", status=404)
            if row.enabled:
                await conn.execute(update(K).where(K.c.id == row.id).values(
                    enabled=False, disabled_reason=f"disabled by {actor}"[:255], updated_at=now_ms()))
                await bump_config_version(conn)
            row = (await conn.execute(select(K).where(K.c.id == row.id))).one()
        view = key_view(row)
        return {k: view[k] for k in ("id", "masked", "name", "enabled", "disabled_reason")}
