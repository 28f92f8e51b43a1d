"""CounterStore for one process: plain dicts, each method atomic because it never awaits mid-way."""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from relaygate.store.counters import (
    CREDIT_MEMORY_SECONDS,
    HOLD_TTL_SECONDS,
    MAX_AMOUNT,
    WINDOW_SLICES,
    Bucket,
    BucketState,
    Refusal,
    Shortfall,
    Slot,
    Window,
    check_amount,
    check_windows,
)


@dataclass(slots=True)
class _Bucket:
    cap: int | None = None
    used: int = 0
    held: int = 0
    expires: float | None = None


# a live hold: (amount, the buckets it is held on, expires at); a plain tuple, one is built per request
_Hold = tuple[int, tuple[Bucket, ...], float]

_ADMITTED_KEEP_SECONDS = 3600.0  # admission times of requests that never completed are forgotten after this


class _Win:
    """A sliding window: units per slice (oldest first) and their sum."""

    __slots__ = ("slices", "total")

    def __init__(self) -> None:
        self.slices: deque[list[int]] = deque()  # [slice index, units]
        self.total = 0

    def prune(self, floor: int) -> int:
        """Drop the slices before ``floor`` (they left the window); return the units still counted."""
        slices = self.slices
        while slices and slices[0][0] < floor:
            self.total -= slices.popleft()[1]
        return self.total

    def add(self, index: int, units: int) -> None:
        slices = self.slices
        if slices and slices[-1][0] == index:
            slices[-1][1] += units
        else:
            slices.append([index, units])
        self.total += units

    def take_back(self, units: int, index: int | None) -> None:
        """Count ``units`` fewer: from slice ``index`` only, or from the oldest slices when None."""
        for entry in (self.slices if index is None else reversed(self.slices)):
            if index is not None and entry[0] != index:
                if entry[0] < index:
                    return
                continue
            back = units if units < entry[1] else entry[1]
            entry[1] -= back
            self.total -= back
            units -= back
            if not units or index is not None:
                return

    def wait(self, excess: int, width: float, now: float) -> float:
        """Seconds until ``excess`` units have left the window (oldest slices leave first)."""
        freed = 0
        for index, units in self.slices:
            freed += units
            if freed >= excess:
                return max((index + WINDOW_SLICES + 1) * width - now, 1e-3)
        return width * (WINDOW_SLICES + 1)


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
        self._windows: dict[tuple[str, float], _Win] = {}  # (name, window seconds) -> its slices
        self._admitted: dict[str, float] = {}  # request id -> when it took its windows (for corrections)
        self._admitted_cap = 10_000
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

    def _finish(self, hold_id: str, actual: int | None, now: float) -> bool:
        hold = self._holds.pop(hold_id, None)
        if hold is None:
            return False
        amount, buckets = hold[0], hold[1]
        states = self._buckets
        for ref in buckets:
            state = states.get(ref.name)
            if state is None:  # a period bucket that expired meanwhile: its period is over
                continue
            if state.expires is not None and state.expires <= now:
                del states[ref.name]
                continue
            state.held -= amount
            if actual is not None:
                state.used += actual
        return True

    async def settle(self, hold_id: str, actual: int) -> bool:
        check_amount(actual, "actual")
        if actual < 0:
            raise ValueError(f"a settled amount cannot be negative (got {actual}); credit a refund instead")
        return self._finish(hold_id, actual, self._clock())

    async def release(self, hold_id: str) -> bool:
        return self._finish(hold_id, None, self._clock())

    async def release_expired_holds(self, limit: int = 1000) -> int:
        now = self._clock()
        expired = [hold_id for hold_id, hold in self._holds.items() if hold[2] <= now][:limit]
        for hold_id in expired:
            self._finish(hold_id, None, now)
        return len(expired)

    def _first_time(self, bucket_name: str, entry_id: str, now: float) -> bool:
        """Remember ``entry_id`` for the bucket (7 days); False when it was applied already."""
        seen = self._credits.setdefault(bucket_name, OrderedDict())
        while seen and next(iter(seen.values())) <= now - CREDIT_MEMORY_SECONDS:
            seen.popitem(last=False)
        if entry_id in seen:
            return False
        seen[entry_id] = now
        return True

    async def credit(self, bucket_name: str, amount: int, entry_id: str) -> bool:
        check_amount(amount)
        now = self._clock()
        if not self._first_time(bucket_name, entry_id, now):
            return False
        state = self._get(bucket_name, now)
        if state is None:
            state = self._buckets[bucket_name] = _Bucket()
        state.cap = (state.cap or 0) + amount
        return True

    async def give_back(self, bucket_name: str, amount: int, entry_id: str) -> bool:
        check_amount(amount)
        now = self._clock()
        state = self._get(bucket_name, now)
        if state is None or not self._first_time(bucket_name, entry_id, now):
            return False
        state.used -= amount
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

    # --- rate windows (sliding, in slices) --------------------------------------------------------------

    async def window_take(self, name: str, limit: int, window_seconds: float, cost: int) -> float | None:
        refusal = await self.admit("", ((name, limit, window_seconds, cost),), (), 0, (), None)
        return None if refusal is None else refusal.wait

    async def window_adjust(self, name: str, limit: int, window_seconds: float, delta: int) -> None:
        await self.complete("", ((name, limit, window_seconds, delta),), (), (), None)

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
        # Checks first, changes after: nothing awaits in between, so all or nothing holds. Written as
        # flat loops without helper calls: this runs once per request.
        now = self._clock()
        wins = self._windows
        taken: list[tuple[tuple[str, float], int, int]] = []  # its length is the index of the window being checked
        for name, limit, window_seconds, cost in windows:
            if limit < 1 or window_seconds <= 0 or cost < 0:
                check_windows(windows)
                raise ValueError(f"a window cost cannot be negative (got {cost})")
            key = (name, window_seconds)
            width = window_seconds / WINDOW_SLICES
            index = int(now // width)
            win = wins.get(key)
            counted = 0 if win is None else win.prune(index - WINDOW_SLICES)
            over = counted + (cost if cost < limit else limit) - limit
            if over > 0:
                assert win is not None
                return Refusal("window", len(taken), wait=win.wait(over, width, now))
            taken.append((key, index, cost))
        for i, (name, limit) in enumerate(slots):
            leases = self._leases.get(name)
            if leases is not None and len(leases) >= limit and request_id not in leases:
                for expired in [lease for lease, expires in leases.items() if expires <= now]:
                    del leases[expired]
                if len(leases) >= limit:
                    return Refusal("slot", i)
        states: list[_Bucket | None] = []  # its length is the index of the bucket being checked
        hold = amount if amount is not None and request_id not in self._holds else None
        if hold is not None:
            if type(hold) is not int or not 0 <= hold < MAX_AMOUNT:
                check_amount(hold)
                if hold < 0:
                    raise ValueError(f"a hold cannot be negative (got {hold})")
            for ref in buckets:
                state = self._buckets.get(ref.name)
                if state is not None and state.expires is not None and state.expires <= now:
                    del self._buckets[ref.name]
                    state = None
                cap = ((state.cap or 0) if state is not None else 0) if ref.stored else ref.cap
                if cap is not None:
                    available = cap - state.used - state.held if state is not None else cap
                    if available < hold:
                        return Refusal("money", len(states), available=available)
                states.append(state)
        for key, index, cost in taken:
            win = wins.get(key)
            if win is None:
                win = wins[key] = _Win()
            if cost:
                win.add(index, cost)
        if taken and request_id:
            admitted = self._admitted
            admitted[request_id] = now
            if len(admitted) > self._admitted_cap:
                self._forget_admissions(now)
        if slots:
            expires = now + slot_ttl_seconds
            for name, _ in slots:
                leases = self._leases.get(name)
                if leases is None:
                    leases = self._leases[name] = {}
                leases[request_id] = expires
        if hold is not None:
            buckets = tuple(buckets)
            for ref, state in zip(buckets, states, strict=True):
                if state is None:
                    state = self._buckets[ref.name] = _Bucket()
                if ref.ttl_seconds is not None and state.expires is None:
                    state.expires = now + ref.ttl_seconds
                state.held += hold
            self._holds[request_id] = (hold, buckets, now + self.hold_ttl_seconds)
        return None

    async def complete(self, request_id: str, windows: Sequence[Window], slots: Sequence[str],
                       buckets: Sequence[str], actual: int | None) -> None:
        if actual is not None and (type(actual) is not int or not 0 <= actual < MAX_AMOUNT):
            check_amount(actual, "actual")
            if actual < 0:
                raise ValueError(f"a settled amount cannot be negative (got {actual}); credit a refund instead")
        now = self._clock()
        at = self._admitted.pop(request_id, None) if request_id else None
        wins = self._windows
        for name, limit, window_seconds, delta in windows:  # inlined: this runs once per request
            if limit < 1 or window_seconds <= 0:
                check_windows(windows)
            key = (name, window_seconds)
            width = window_seconds / WINDOW_SLICES
            index = int(now // width)
            win = wins.get(key)
            if delta > 0:  # more than estimated: counted from now
                if win is None:
                    win = wins[key] = _Win()
                win.add(index, delta)
            elif delta < 0 and win is not None:
                win.prune(index - WINDOW_SLICES)
                if at is not None:  # fewer: taken back where they were counted, if still counted
                    at_index = int(at // width)
                    if at_index >= index - WINDOW_SLICES:
                        win.take_back(-delta, at_index)
                elif not request_id:  # a bare adjustment: from the oldest units
                    win.take_back(-delta, None)
                if not win.total:
                    del wins[key]
        for name in slots:
            leases = self._leases.get(name)
            if leases is not None and leases.pop(request_id, None) is not None and not leases:
                del self._leases[name]
        if buckets:
            self._finish(request_id, actual, now)

    def _forget_admissions(self, now: float) -> None:
        """Drop the admission times of requests that never completed (bounded memory)."""
        cutoff = now - _ADMITTED_KEEP_SECONDS
        self._admitted = {rid: at for rid, at in self._admitted.items() if at > cutoff}
        self._admitted_cap = max(10_000, 2 * len(self._admitted))

    async def flush(self) -> None:
        return None

    async def close(self) -> None:
        return None
