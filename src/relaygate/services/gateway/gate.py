"""A request's way in and out of its rate limits and its money: one counter call each way.

``Gate.enter`` takes the request's rate windows, concurrency slots and money hold in one
``CounterStore.admit`` (all or nothing) and turns a refusal into the caller's 429 or 402;
``Gate.leave`` settles or releases the hold, frees the slots and corrects the token windows in
one ``CounterStore.complete``, whatever limits and caps apply. With Redis the calls of many requests
share a round trip (``store/counters_redis.py`` sends them in batches): at most one per request on
average. A key's limits are resolved once per configuration snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass

from relaygate.core.domain import KeyRecord
from relaygate.protocols.openai import RequestFacts
from relaygate.services.gateway.billing import Billing, Charge
from relaygate.services.gateway.catalog import Snapshot
from relaygate.services.gateway.limits import LEASE_TTL_SECONDS, NO_LIMITS, LimitPlan, LimitRule
from relaygate.store.counters import CounterStore


def limit_rules(snap: Snapshot, key: KeyRecord) -> list[LimitRule]:
    """The key's own limits and its group's, when either has any."""
    rules = []
    if key.rpm or key.tpm or key.concurrency:
        rules.append(LimitRule(f"key:{key.id}", key.rpm, key.tpm, key.concurrency))
    group = snap.groups.get(key.group)
    if group is not None and (group.rpm or group.tpm or group.concurrency):
        rules.append(LimitRule(f"group:{group.name}", group.rpm, group.tpm, group.concurrency))
    return rules


@dataclass(slots=True)
class Pass:
    """What an admitted request holds; ``Gate.leave`` ends it (once: later calls do nothing)."""

    request_id: str
    plan: LimitPlan
    est_tokens: int
    charge: Charge | None
    done: bool = False


NO_NAMES: tuple[str, ...] = ()


class Gate:
    def __init__(self, store: CounterStore, billing: Billing | None, *, limits: bool = True,
                 lease_ttl_seconds: float = LEASE_TTL_SECONDS) -> None:
        self.store = store
        self.billing = billing
        self.limits = limits
        self.lease_ttl_seconds = lease_ttl_seconds
        self._plans: dict[str, LimitPlan] = {}
        self._plans_of: Snapshot | None = None

    def plan_for(self, snap: Snapshot, key: KeyRecord) -> LimitPlan:
        """The key's limits under this snapshot, resolved on its first request and kept until a reload."""
        if snap is not self._plans_of:
            self._plans, self._plans_of = {}, snap
        plan = self._plans.get(key.id)
        if plan is None:
            plan = self._plans[key.id] = LimitPlan.of(limit_rules(snap, key)) if self.limits else NO_LIMITS
        return plan

    async def enter(self, snap: Snapshot, key: KeyRecord, model: str, facts: RequestFacts, request_id: str,
                    operation: str) -> Pass | None:
        """Price the request, take what it needs, or raise ``rate_limited`` (429) /
        ``insufficient_balance`` (402) / ``model_price_missing``. None: nothing to take or give back."""
        charge = None if self.billing is None else self.billing.quote(snap, key, model, facts, request_id, operation)
        return await self.admit(self.plan_for(snap, key), request_id,
                                facts.prompt_estimate + (facts.max_tokens or 0), charge)

    async def admit(self, plan: LimitPlan, request_id: str, est_tokens: int, charge: Charge | None) -> Pass | None:
        """Take ``plan``'s windows and slots (``est_tokens`` on token windows) and the charge's hold, or raise."""
        if est_tokens < 0:
            raise ValueError(f"est_tokens cannot be negative (got {est_tokens})")
        if charge is None and plan.empty:
            return None
        refusal = await self.store.admit(request_id, plan.takes(est_tokens), plan.slots, self.lease_ttl_seconds,
                                         charge.buckets if charge is not None else (),
                                         charge.hold if charge is not None else None)
        if refusal is not None:
            if refusal.part == "window":
                raise plan.window_refusal(refusal.index, refusal.wait)
            if refusal.part == "slot":
                raise plan.slot_refusal(refusal.index)
            assert charge is not None and self.billing is not None
            raise self.billing.insufficient(charge, refusal.index, refusal.available)
        if charge is not None and self.billing is not None:
            self.billing.admitted(charge)
        return Pass(request_id, plan, est_tokens, charge)

    async def leave(self, admitted: Pass, delivered: bool, prompt_tokens: int, completion_tokens: int,
                    cached_tokens: int, total_tokens: int) -> int:
        """End the request and return what it was charged: the cost of the tokens when an answer was
        ``delivered`` (whole, or part of a stream), else nothing (the hold is released). Frees the
        slots and counts the real tokens on the token windows instead of the estimate. Once per
        request: later calls charge nothing."""
        if admitted.done:
            return 0
        admitted.done = True
        charge, plan = admitted.charge, admitted.plan
        cost, buckets = 0, NO_NAMES
        if charge is not None and self.billing is not None:
            # the ledger first: an answer that was delivered is charged even if the counters fail now
            if delivered:
                cost = charge.tariff.rate.cost(prompt_tokens, completion_tokens, cached_tokens)
                if self.billing.settled(charge, cost):
                    buckets = charge.bucket_names
                else:
                    cost = 0
            elif self.billing.released(charge):
                buckets = charge.bucket_names
        await self.store.complete(admitted.request_id, plan.corrections(total_tokens - admitted.est_tokens),
                                  plan.slot_names, buckets,
                                  cost if buckets and delivered else None)
        return cost
