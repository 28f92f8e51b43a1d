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
from relaygate.core.money import format_amount
from relaygate.services.gateway.billing import key_buckets
from relaygate.store import tables as t
from relaygate.store.counters import CounterStore

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
