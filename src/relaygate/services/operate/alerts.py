"""Alert rules as operators set them: add, list, delete, and the events raised so far."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.clock import iso, now_ms
from relaygate.core.errors import InvalidInput
from relaygate.core.money import format_amount, parse_amount
from relaygate.services.operate.accounts import AccountsAdmin
from relaygate.store import tables as t
from relaygate.store.db import bump_config_version


class AlertsAdmin:
    def __init__(self, engine: AsyncEngine, currency: str) -> None:
        self.engine = engine
        self.currency = currency

    async def add_rule(self, *, owner: str | None = None, key: str | None = None,
                       balance_below: str | None = None, cap_percent: int | None = None,
                       cap: str | None = None) -> dict[str, Any]:

        accounts = AccountsAdmin(self.engine)
        async with self.engine.begin() as conn:
            if owner and balance_below is not None:
                target, scope, kind = (await accounts.resolve_owner(conn, owner)).id, "owner", "balance_below"
                threshold = parse_amount(balance_below)
            elif key and cap_percent is not None:
                if not 1 <= cap_percent <= 1000:
                    raise InvalidInput("cap_percent must be between 1 and 1000.", "cap_percent 必须在 1 到 1000 之间。")
                if cap not in (None, "total", "daily", "monthly"):
                    raise InvalidInput("cap must be total, daily or monthly.", "cap 必须是 total、daily 或 monthly。")
                target, scope, kind = (await accounts.resolve_key(conn, key)).id, "key", "cap_percent"
                threshold = cap_percent
            else:
                raise InvalidInput("Give --owner with --balance-below, or --key with --cap-percent.",
                                   "请使用 --owner 加 --balance-below，或 --key 加 --cap-percent。")
            result = await conn.execute(t.alert_rules.insert().values(
                scope=scope, target=target, kind=kind, threshold=threshold, cap=cap, created_at=now_ms()))
            await bump_config_version(conn)
            rule_id = result.inserted_primary_key[0] if result.inserted_primary_key else None
        return {"id": rule_id, "scope": scope, "target": target, "kind": kind, "threshold": threshold, "cap": cap}

    async def list_rules(self) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(t.alert_rules).order_by(t.alert_rules.c.id))).all()
        return [{"id": r.id, "scope": r.scope, "target": r.target, "kind": r.kind,
                 "threshold": format_amount(r.threshold, self.currency) if r.kind == "balance_below"
                 else f"{r.threshold}%", "cap": r.cap} for r in rows]

    async def delete_rule(self, rule_id: int) -> None:
        async with self.engine.begin() as conn:
            if (await conn.execute(t.alert_rules.delete().where(t.alert_rules.c.id == rule_id))).rowcount == 0:
                raise InvalidInput(f"No alert rule {rule_id}.", f"找不到告警规则 {rule_id}。", status=404)
            await bump_config_version(conn)

    async def events(self, limit: int = 100) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(t.alert_events).order_by(t.alert_events.c.id.desc())
                                       .limit(limit))).all()
        return [{"id": r.id, "time": iso(r.created_at), "rule_id": r.rule_id, "scope": r.scope,
                 "target": r.target, "kind": r.kind, "message": r.message, "delivered": bool(r.delivered)}
                for r in rows]
