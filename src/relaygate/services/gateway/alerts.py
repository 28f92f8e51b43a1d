"""Budget alerts: thresholds on balances and key caps raise one event per crossing, recorded and POSTed.

A crossing is identified by (rule, bucket, cap at the time): spending only moves a balance one way
until the cap changes (a top-up or adjustment) or a period bucket rolls over, so one identity fires
once. The counter store's once-only ``credit`` (with amount 0) is the de-duplication primitive, so
several workers sharing Redis raise each event once.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import aiohttp
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.clock import iso, now_ms
from relaygate.core.domain import KeyRecord
from relaygate.core.errors import InvalidInput
from relaygate.core.money import format_amount, parse_amount
from relaygate.services.billing import key_buckets
from relaygate.store import tables as t
from relaygate.store.counters import CounterStore
from relaygate.store.db import bump_config_version

log = logging.getLogger("relaygate.alerts")


@dataclass(frozen=True, slots=True)
class AlertRule:
    id: int
    scope: str  # owner | key
    target: str
    kind: str  # balance_below | cap_percent
    threshold: int
    cap: str | None  # total | daily | monthly (cap_percent)


class Alerts:
    def __init__(self, engine: AsyncEngine, store: CounterStore, currency: str, webhook_url: str) -> None:
        self.engine = engine
        self.store = store
        self.currency = currency
        self.webhook_url = webhook_url
        self.rules_by_target: dict[str, list[AlertRule]] = {}
        self.queue: list[dict[str, Any]] = []
        self.wake = asyncio.Event()

    async def reload(self) -> None:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(t.alert_rules))).all()
        rules: dict[str, list[AlertRule]] = {}
        for r in rows:
            rules.setdefault(r.target, []).append(AlertRule(r.id, r.scope, r.target, r.kind, r.threshold, r.cap))
        self.rules_by_target = rules

    def watches(self, key: KeyRecord) -> bool:
        """Whether any rule watches the key or its owner (checked before ``after_spend`` on every request)."""
        targets = self.rules_by_target
        return bool(targets) and (key.owner_id in targets or key.id in targets)

    async def after_spend(self, key: KeyRecord) -> None:
        """Called after a settle: check the owner's and the key's rules (a dict lookup when none)."""
        for rule in self.rules_by_target.get(key.owner_id, ()):
            if rule.kind == "balance_below":
                state = await self.store.read(f"owner:{key.owner_id}")
                balance = (state.cap or 0) - state.used
                if balance < rule.threshold:
                    await self._fire(rule, f"owner:{key.owner_id}", state.cap or 0, balance,
                                     f"Balance of owner {key.owner_id} is {format_amount(balance, self.currency)}, "
                                     f"below {format_amount(rule.threshold, self.currency)}.")
        for rule in self.rules_by_target.get(key.id, ()):
            for bucket in key_buckets(key):
                period = bucket.name.split(":")[2]
                if rule.cap not in (None, {"total": "total", "d": "daily", "m": "monthly"}[period]):
                    continue
                if not bucket.cap:
                    continue
                state = await self.store.read(bucket.name)
                percent = state.used * 100 // bucket.cap
                if percent >= rule.threshold:
                    name = {"total": "total", "d": "daily", "m": "monthly"}[period]
                    await self._fire(rule, bucket.name, bucket.cap, state.used,
                                     f"Key {key.id} has used {percent}% of its {name} cap "
                                     f"({format_amount(state.used, self.currency)} of "
                                     f"{format_amount(bucket.cap, self.currency)}).")

    async def _fire(self, rule: AlertRule, bucket: str, cap: int, value: int, message: str) -> None:
        if not await self.store.credit("alerts:fired", 0, f"{rule.id}:{bucket}:{cap}"):
            return
        self.queue.append({"rule_id": rule.id, "scope": rule.scope, "target": rule.target, "kind": rule.kind,
                           "message": message, "value": value, "delivered": False, "created_at": now_ms()})
        self.wake.set()

    async def run(self, session_factory: Any) -> None:
        """Supervised loop: record queued events, then POST them to the webhook."""
        while True:
            await self.wake.wait()
            self.wake.clear()
            await self.deliver(session_factory())

    async def deliver(self, session: aiohttp.ClientSession | None) -> None:
        events, self.queue = self.queue, []
        if not events:
            return
        for event in events:
            if self.webhook_url and session is not None:
                try:
                    async with session.post(self.webhook_url, json={**event, "time": iso(event["created_at"])},
                                            timeout=aiohttp.ClientTimeout(total=10)) as resp:
                        event["delivered"] = resp.status < 300
                except (aiohttp.ClientError, TimeoutError) as exc:
                    log.warning("alert webhook failed: %s", type(exc).__name__)
        async with self.engine.begin() as conn:
            await conn.execute(t.alert_events.insert(), events)


class AlertsAdmin:
    def __init__(self, engine: AsyncEngine, currency: str) -> None:
        self.engine = engine
        self.currency = currency

    async def add_rule(self, *, owner: str | None = None, key: str | None = None,
                       balance_below: str | None = None, cap_percent: int | None = None,
                       cap: str | None = None) -> dict[str, Any]:
        from relaygate.services.admin import AccountsAdmin

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
