"""Media money: hold at submit, settle to the actual units or release in full at the end.

The counter store holds the amount on the owner's balance and the key's caps at once (as for chat),
so concurrent submits can never together spend more than is available. Ledger rows: a synchronous
call (images, audio) writes one ``settle`` row with its usage record; a task writes its ``hold`` row
in the same transaction as the task row and its ``release`` (and ``settle``) rows in the same
transaction as its terminal state, so a task's money and its state never disagree, across restarts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from relaygate.core.clock import now_ms
from relaygate.core.domain import KeyRecord
from relaygate.core.money import PPM, Rate
from relaygate.services.gateway.billing import Billing, Charge, Tariff, key_buckets, owner_bucket
from relaygate.store.counters import Bucket, CounterStore


@dataclass(frozen=True, slots=True)
class Hold:
    hold_id: str  # the counter store's hold id
    request_id: str
    owner_id: str
    key_id: str
    model: str
    amount: int


class MediaMoney:
    def __init__(self, store: CounterStore, billing: Billing | None) -> None:
        self.store = store
        self.billing = billing

    @property
    def enabled(self) -> bool:
        return self.billing is not None

    @staticmethod
    def buckets(key: KeyRecord | None, owner_id: str) -> tuple[Bucket, ...]:
        return (owner_bucket(owner_id), *(key_buckets(key) if key is not None else ()))

    async def hold(self, key: KeyRecord, model: str, request_id: str, hold_id: str, amount: int) -> Hold | None:
        """Hold ``amount`` on the owner's balance and the key's caps, or raise the caller's 402."""
        if self.billing is None or amount <= 0:
            return None
        buckets = self.buckets(key, key.owner_id)
        short = await self.store.reserve(hold_id, buckets, amount)
        if short is not None:
            names = tuple(b.name for b in buckets)
            tariff = Tariff(key.owner_id, key.id, model, Rate(0, 0, 0, amount), 0, buckets, names, False)
            charge = Charge(request_id, tariff, amount, buckets, names, now_ms())
            raise self.billing.insufficient(charge, names.index(short.bucket), short.available)
        return Hold(hold_id, request_id, key.owner_id, key.id, model, amount)

    async def restore(self, key: KeyRecord | None, owner_id: str, hold_id: str, amount: int) -> bool:
        """Take a task's hold again after a restart (memory counters forget them); False if it no longer fits."""
        if self.billing is None or amount <= 0:
            return True
        return await self.store.reserve(hold_id, self.buckets(key, owner_id), amount) is None

    async def end(self, hold_id: str, cost: int) -> None:
        """Settle the counters to ``cost`` (0: release). Unknown holds (already ended) are ignored."""
        if self.billing is None:
            return
        if cost > 0:
            await self.store.settle(hold_id, cost)
        else:
            await self.store.release(hold_id)

    async def refund(self, owner_id: str, key_id: str | None, amount: int, entry_id: int) -> None:
        """A refund the ledger has (entry ``entry_id``): back on the owner's balance and the key's total cap
        at once; every other worker applies the same entry once (``BalanceSync.apply_credits``)."""
        await self.store.credit(f"owner:{owner_id}", amount, f"ledger:{entry_id}")
        if key_id:
            await self.store.give_back(f"key:{key_id}:total", amount, f"ledger:{entry_id}")

    @staticmethod
    def row(owner_id: str, key_id: str, model: str, request_id: str, kind: str, amount: int, held: int,
            reason: str | None, ref: str | None = None, now: int | None = None) -> dict[str, Any]:
        return {"owner_id": owner_id, "key_id": key_id, "kind": kind, "amount": amount, "held": held,
                "request_id": request_id, "model": model, "reason": reason, "actor": "gateway", "ref": ref,
                "created_at": now or now_ms()}

    def queue_settle(self, hold: Hold, cost: int, reason: str) -> None:
        """A synchronous call's one ledger row, written with its usage record."""
        if self.billing is not None and cost > 0:
            self.billing.entries.append(self.row(hold.owner_id, hold.key_id, hold.model, hold.request_id,
                                                 "settle", -cost, 0, reason))


def multiplier_of(snap_groups: dict[str, Any], group: str) -> int:
    g = snap_groups.get(group)
    return int(g.multiplier_ppm) if g is not None else PPM
