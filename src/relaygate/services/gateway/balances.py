"""Balances: load buckets from the ledger at start, apply operator credits once, top-ups and adjustments."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.clock import now_ms
from relaygate.core.errors import InvalidInput
from relaygate.core.money import format_amount
from relaygate.services.admin import AccountsAdmin
from relaygate.services.billing import key_buckets
from relaygate.services.catalog import Snapshot
from relaygate.store.counters import CounterStore
from relaygate.store.db import get_meta, set_meta
from relaygate.store.ledger_repo import append_entries, credits_since, key_spent, owner_totals

log = logging.getLogger("relaygate.balances")

CREDIT_WINDOW_MS = 7 * 86400 * 1000  # credits newer than this are applied one by one (idempotently)


class BalanceSync:
    """Keeps the counter store's buckets equal to the ledger: loaded once, then credits applied once."""

    def __init__(self, engine: AsyncEngine, store: CounterStore, poll_seconds: float) -> None:
        self.engine = engine
        self.store = store
        self.poll_seconds = poll_seconds
        self.version: str | None = None
        self.loaded_keys: set[str] = set()

    async def load(self, snap: Snapshot) -> None:
        cutoff = now_ms() - CREDIT_WINDOW_MS
        async with self.engine.connect() as conn:
            self.version = await get_meta(conn, "ledger_version")
            totals = await owner_totals(conn, before_ms=cutoff)
            for owner_id in set(snap.owners) | set(totals):
                credited, spent = totals.get(owner_id, (0, 0))
                await self.store.load(f"owner:{owner_id}", credited, spent, only_if_absent=True)
        await self.apply_credits(cutoff)
        await self.load_key_caps(snap)

    async def load_key_caps(self, snap: Snapshot) -> None:
        """Spend so far of keys that have caps (new caps included), read once per bucket."""
        now = now_ms()
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
                await self.store.load(bucket.name, None, used, only_if_absent=True,
                                      ttl_seconds=bucket.ttl_seconds)
                self.loaded_keys.add(bucket.name)

    async def apply_credits(self, since_ms: int | None = None) -> int:
        async with self.engine.connect() as conn:
            rows = await credits_since(conn, since_ms if since_ms is not None else now_ms() - CREDIT_WINDOW_MS)
        applied = 0
        for row in rows:
            if await self.store.credit(f"owner:{row.owner_id}", int(row.amount), f"ledger:{row.id}"):
                applied += 1
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


class LedgerAdmin:
    """Operator money actions: every one is a ledger entry with a reason and who made it."""

    def __init__(self, engine: AsyncEngine, currency: str) -> None:
        self.engine = engine
        self.currency = currency

    async def record(self, owner: str, kind: str, amount: int, reason: str, actor: str,
                     ref: str | None = None, request_id: str | None = None) -> dict[str, Any]:
        if kind not in ("topup", "adjustment", "refund", "import", "expiry"):
            raise InvalidInput(f"Unknown entry kind '{kind}'.", f"未知的账目类型 '{kind}'。")
        if not reason or not reason.strip():
            raise InvalidInput("Every balance change needs a reason (--reason).",
                               "每次余额变动都需要原因（--reason）。")
        if kind == "topup" and amount <= 0:
            raise InvalidInput("A top-up must be positive; use an adjustment to reduce a balance.",
                               "充值金额必须为正数；减少余额请使用调整（adjust）。")
        async with self.engine.begin() as conn:
            owner_row = await AccountsAdmin(self.engine).resolve_owner(conn, owner)
            row = {"owner_id": owner_row.id, "key_id": None, "kind": kind, "amount": amount, "held": 0,
                   "request_id": request_id, "model": None, "reason": reason.strip(), "actor": actor, "ref": ref,
                   "created_at": now_ms()}
            inserted = await append_entries(conn, [row])
            await set_meta(conn, "ledger_version", f"{now_ms()}-{owner_row.id}")
        return {"owner_id": owner_row.id, "owner": owner_row.name, "kind": kind, "amount": amount,
                "amount_text": format_amount(amount, self.currency), "reason": reason, "actor": actor,
                "recorded": bool(inserted)}
