"""Balances: load buckets from the ledger at start, apply operator credits once, top-ups and adjustments."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.clock import now_ms
from relaygate.services.gateway.billing import key_buckets
from relaygate.services.gateway.catalog import Snapshot
from relaygate.store.counters import CounterStore
from relaygate.store.db import get_meta
from relaygate.store.ledger_repo import (
    KEY_CREDIT_KINDS,
    credits_before,
    credits_since,
    key_given_back,
    key_spent,
    owner_totals,
)

log = logging.getLogger("relaygate.balances")

CREDIT_WINDOW_MS = 7 * 86400 * 1000  # credits newer than this are applied one by one (idempotently)
# The counter store compares amounts exactly only below 2**53 nanos, while the ledger holds balances of any
# size (store/wide.py). The counters therefore see an owner's credits clamped to ±VIEW: exact below about
# 2.25 million currency units, and "at least that much" above, which is all admission needs. The ledger and
# the balances table keep the exact figure.
VIEW = 2**51


def view(total: int) -> int:
    return max(-VIEW, min(VIEW, total))


class BalanceSync:
    """Keeps the counter store's buckets equal to the ledger: loaded once, then credits applied once."""

    def __init__(self, engine: AsyncEngine, store: CounterStore, poll_seconds: float) -> None:
        self.engine = engine
        self.store = store
        self.poll_seconds = poll_seconds
        self.version: str | None = None
        self.loaded_keys: set[str] = set()
        self.wide: set[str] = set()  # owners whose credits reach beyond what the counters see exactly

    async def load(self, snap: Snapshot) -> None:
        cutoff = now_ms() - CREDIT_WINDOW_MS
        async with self.engine.connect() as conn:
            self.version = await get_meta(conn, "ledger_version")
            totals = await owner_totals(conn, before_ms=cutoff)
            for owner_id in set(snap.owners) | set(totals):
                credited, spent = totals.get(owner_id, (0, 0))
                if abs(credited) >= VIEW // 4:
                    self.wide.add(owner_id)
                await self.store.load(f"owner:{owner_id}", view(credited), view(spent), only_if_absent=True)
        await self.apply_credits(cutoff)
        await self.load_key_caps(snap)

    async def load_key_caps(self, snap: Snapshot) -> None:
        """Spend so far of keys that have caps (new caps included), read once per bucket.

        A total cap also counts the credits that name the key (a taken-over task's refund, given back to the
        cap as New API gave it back to the token): those older than the credit window in the load, newer
        ones applied by entry id, as ``apply_credits`` applies them, so each counts once."""
        now = now_ms()
        cutoff = now - CREDIT_WINDOW_MS
        day = datetime.fromtimestamp(now / 1000, tz=UTC)
        day_start = int(day.replace(hour=0, minute=0, second=0, microsecond=0).timestamp() * 1000)
        month_start = int(day.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp() * 1000)
        todo = [(k, b) for k in snap.keys_by_id.values() for b in key_buckets(k, now) if b.name not in self.loaded_keys]
        if not todo:
            return
        async with self.engine.connect() as conn:
            for key, bucket in todo:
                kind = bucket.name.split(":")[2]
                since = None if kind == "total" else day_start if kind == "d" else month_start
                used = await key_spent(conn, key.id, since)
                recent = []
                if kind == "total":
                    used -= sum(int(r.amount) for r in await key_given_back(conn, key.id, before_ms=cutoff))
                    recent = await key_given_back(conn, key.id, since_ms=cutoff)
                await self.store.load(bucket.name, None, used, only_if_absent=True,
                                      ttl_seconds=bucket.ttl_seconds)
                for row in recent:
                    await self.store.give_back(bucket.name, int(row.amount), f"ledger:{row.id}")
                self.loaded_keys.add(bucket.name)

    async def apply_credits(self, since_ms: int | None = None) -> int:
        async with self.engine.connect() as conn:
            rows = await credits_since(conn, since_ms if since_ms is not None else now_ms() - CREDIT_WINDOW_MS)
            wide = {r.owner_id for r in rows if abs(int(r.amount)) >= VIEW // 2} | (
                self.wide & {r.owner_id for r in rows})
            before: dict[str, int] = {}  # wide owners: credits before their first row here, exactly
            for owner_id in sorted(wide):
                first = min(r.id for r in rows if r.owner_id == owner_id)
                before[owner_id] = await credits_before(conn, owner_id, first)
        self.wide |= wide
        applied = 0
        for row in rows:
            amount = int(row.amount)
            if row.owner_id in before:  # what the clamped view moves by: the same in every worker
                total = before[row.owner_id]
                before[row.owner_id] = total + amount
                amount = view(total + amount) - view(total)
            if await self.store.credit(f"owner:{row.owner_id}", amount, f"ledger:{row.id}"):
                applied += 1
            if row.key_id and row.kind in KEY_CREDIT_KINDS:  # only once the key's total cap is loaded
                await self.store.give_back(f"key:{row.key_id}:total", view(int(row.amount)), f"ledger:{row.id}")
        return applied

    async def run(self, snapshot: Any) -> None:
        """Supervised loop: apply new operator credits; load buckets of newly capped keys."""
        while True:
            await asyncio.sleep(self.poll_seconds)
            try:
                async with self.engine.connect() as conn:
                    version = await get_meta(conn, "ledger_version")
                if version != self.version:
                    self.version = version
                    if n := await self.apply_credits():
                        log.info("applied %d balance credit(s)", n)
                await self.load_key_caps(snapshot())
            except Exception as exc:
                log.warning("balance sync skipped a round: %s", type(exc).__name__)
