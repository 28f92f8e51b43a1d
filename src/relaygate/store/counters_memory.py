"""CounterStore for one process: plain dicts, each method atomic because it never awaits mid-way."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from relaygate.store.counters import (
    CREDIT_MEMORY_SECONDS,
    HOLD_TTL_SECONDS,
    Bucket,
    BucketState,
    Refusal,
    Shortfall,
    Slot,
    Window,
    check_amount,
    check_rate,
    check_windows,
)


@dataclass(slots=True)
class _Bucket:
    cap: int | None = None
    used: int = 0
    held: int = 0
    expires: float | None = None


@dataclass(slots=True)  # not frozen: a frozen dataclass is slow to build, and one is built per request
class _Hold:
    amount: int
    buckets: tuple[str, ...]
    expires: float


class MemoryCounters:
    """Counters in this process's memory; right for a single worker and for tests.

    ``clock`` returns seconds (monotonic by default); tests may pass a fake one.
    """

    def __init__(self, *, hold_ttl_seconds: float = HOLD_TTL_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.hold_ttl_seconds = hold_ttl_seconds
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._holds: dict[str, _Hold] = {}
        self._credits: dict[str, OrderedDict[str, float]] = {}  # bucket -> entry id -> applied at
        self._windows: dict[tuple[str, float], float] = {}  # (name, window) -> theoretical arrival time
        self._leases: dict[str, dict[str, float]] = {}  # name -> lease id -> expires at

    # --- money buckets ------------------------------------------------------------------------

    def _get(self, name: str, now: float) -> _Bucket | None:
        bucket = self._buckets.get(name)
        if bucket is not None and bucket.expires is not None and bucket.expires <= now:
            del self._buckets[name]
            return None
        return bucket

    async def reserve(self, hold_id: str, buckets: Sequence[Bucket], amount: int) -> Shortfall | None:
        refusal = await self.admit(hold_id, (), (), 0, buckets, amount)
        return None if refusal is None else Shortfall(buckets[refusal.index].name, refusal.available)

    def _take_hold(self, hold_id: str, buckets: Sequence[Bucket], amount: int, now: float) -> None:
        for ref in buckets:
            state = self._get(ref.name, now)
            if state is None:
                state = self._buckets[ref.name] = _Bucket()
            if ref.ttl_seconds is not None and state.expires is None:
                state.expires = now + ref.ttl_seconds
            state.held += amount
        self._holds[hold_id] = _Hold(amount, tuple([b.name for b in buckets]), now + self.hold_ttl_seconds)

    def _finish(self, hold_id: str, actual: int | None) -> bool:
        hold = self._holds.pop(hold_id, None)
        if hold is None:
            return False
        now = self._clock()
        for name in hold.buckets:
            state = self._get(name, now)
            if state is None:  # a period bucket that expired meanwhile: its period is over
                continue
            state.held -= hold.amount
            if actual is not None:
                state.used += actual
        return True

    async def settle(self, hold_id: str, actual: int) -> bool:
        check_amount(actual, "actual")
        if actual < 0:
            raise ValueError(f"a settled amount cannot be negative (got {actual}); credit a refund instead")
        return self._finish(hold_id, actual)

    async def release(self, hold_id: str) -> bool:
        return self._finish(hold_id, None)

    async def release_expired_holds(self, limit: int = 1000) -> int:
        now = self._clock()
        expired = [hold_id for hold_id, hold in self._holds.items() if hold.expires <= now][:limit]
        for hold_id in expired:
            self._finish(hold_id, None)
        return len(expired)

    async def credit(self, bucket_name: str, amount: int, entry_id: str) -> bool:
        check_amount(amount)
        now = self._clock()
        seen = self._credits.setdefault(bucket_name, OrderedDict())
        while seen and next(iter(seen.values())) <= now - CREDIT_MEMORY_SECONDS:
            seen.popitem(last=False)
        if entry_id in seen:
            return False
        seen[entry_id] = now
        state = self._get(bucket_name, now)
        if state is None:
            state = self._buckets[bucket_name] = _Bucket()
        state.cap = (state.cap or 0) + amount
        return True

    async def load(self, bucket_name: str, cap: int | None, used: int, only_if_absent: bool = True,
                   ttl_seconds: int | None = None) -> bool:
        if cap is not None:
            check_amount(cap, "cap")
        check_amount(used, "used")
        now = self._clock()
        state = self._get(bucket_name, now)
        if state is not None and only_if_absent:
            return False
        if state is None:
            state = self._buckets[bucket_name] = _Bucket()
        state.cap, state.used = cap, used
        if ttl_seconds is not None:
            state.expires = now + ttl_seconds
        return True

    async def read(self, bucket_name: str) -> BucketState:
        state = self._get(bucket_name, self._clock())
        if state is None:
            return BucketState(None, 0, 0)
        return BucketState(state.cap, state.used, state.held)

    # --- rate windows (GCRA) ------------------------------------------------------------------

    async def window_take(self, name: str, limit: int, window_seconds: float, cost: int) -> float | None:
        refusal = await self.admit("", ((name, limit, window_seconds, cost),), (), 0, (), None)
        return None if refusal is None else refusal.wait

    async def window_adjust(self, name: str, limit: int, window_seconds: float, delta: int) -> None:
        check_rate(limit, window_seconds)
        self._adjust(name, limit, window_seconds, delta, self._clock())

    def _adjust(self, name: str, limit: int, window_seconds: float, delta: int, now: float) -> None:
        key = (name, window_seconds)
        tat = max(self._windows.get(key, now), now) + delta * (window_seconds / limit)
        if tat <= now:
            self._windows.pop(key, None)
        else:
            self._windows[key] = tat

    # --- concurrency leases -------------------------------------------------------------------

    async def concurrency_take(self, name: str, limit: int, lease_id: str, ttl_seconds: float) -> bool:
        return await self.admit(lease_id, (), ((name, limit),), ttl_seconds, (), None) is None

    async def concurrency_release(self, name: str, lease_id: str) -> bool:
        leases = self._leases.get(name)
        if leases is None or lease_id not in leases:
            return False
        expired = leases.pop(lease_id) <= self._clock()
        if not leases:
            del self._leases[name]
        return not expired

    # --- one request, all at once ------------------------------------------------------------

    async def admit(self, request_id: str, windows: Sequence[Window], slots: Sequence[Slot], slot_ttl_seconds: float,
                    buckets: Sequence[Bucket], amount: int | None) -> Refusal | None:
        check_windows(windows)
        now = self._clock()
        tats = self._windows
        taken = []
        for i, (name, limit, window_seconds, cost) in enumerate(windows):
            if cost < 0:
                raise ValueError(f"a window cost cannot be negative (got {cost})")
            interval = window_seconds / limit
            tat = tats.get((name, window_seconds), now)
            if tat < now:
                tat = now
            over = tat + min(cost, limit) * interval - now - window_seconds
            if over > 1e-9:
                return Refusal("window", i, wait=over)
            taken.append(tat + cost * interval)
        for i, (name, limit) in enumerate(slots):
            leases = self._leases.get(name)
            if leases is not None and request_id not in leases and len(leases) >= limit:
                for expired in [lease for lease, expires in leases.items() if expires <= now]:
                    del leases[expired]
                if len(leases) >= limit:
                    return Refusal("slot", i)
        hold = amount if amount is not None and request_id not in self._holds else None
        if hold is not None:
            check_amount(hold)
            if hold < 0:
                raise ValueError(f"a hold cannot be negative (got {hold})")
            for i, ref in enumerate(buckets):
                current = self._get(ref.name, now)
                cap = ((current.cap or 0) if current is not None else 0) if ref.stored else ref.cap
                if cap is None:
                    continue
                available = cap - current.used - current.held if current is not None else cap
                if available < hold:
                    return Refusal("money", i, available=available)
        for (name, _, window_seconds, _), tat in zip(windows, taken, strict=True):
            tats[(name, window_seconds)] = tat
        expires = now + slot_ttl_seconds
        for name, _ in slots:
            self._leases.setdefault(name, {})[request_id] = expires
        if hold is not None:
            self._take_hold(request_id, buckets, hold, now)
        return None

    async def complete(self, request_id: str, windows: Sequence[Window], slots: Sequence[str],
                       buckets: Sequence[str], actual: int | None) -> None:
        if actual is not None:
            check_amount(actual, "actual")
            if actual < 0:
                raise ValueError(f"a settled amount cannot be negative (got {actual}); credit a refund instead")
        check_windows(windows)
        now = self._clock()
        for name, limit, window_seconds, delta in windows:
            self._adjust(name, limit, window_seconds, delta, now)
        for name in slots:
            leases = self._leases.get(name)
            if leases is not None and leases.pop(request_id, None) is not None and not leases:
                del self._leases[name]
        if buckets:
            self._finish(request_id, actual)

    async def close(self) -> None:
        return None
