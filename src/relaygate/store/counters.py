"""The counter interface shared by the memory and Redis stores: money buckets, holds, rate windows, leases.

Two implementations pass one contract test suite (``tests/store/test_counters.py``):
``MemoryCounters`` (``store/counters_memory.py``) for a single process and ``RedisCounters``
(``store/counters_redis.py``) for several workers or machines. Every method is atomic: in memory
there is no ``await`` between a check and its update; in Redis each multi-step operation is one
Lua script.

Money buckets
    A bucket holds ``cap`` (absent = none stored), ``used`` and ``held``; available is
    ``cap - used - held``. A ``Bucket`` reference says which cap to enforce: ``stored=True`` uses
    the stored cap (an owner's balance: cap = everything credited, absent = 0); ``stored=False``
    uses ``Bucket.cap`` as passed by the caller (a key's spend cap; ``None`` = unlimited).
    ``reserve`` holds an amount on several buckets at once or on none; ``settle`` turns the hold
    into ``used`` (the actual amount may exceed the hold: that overspend is allowed and is how a
    bucket can end above its cap or a balance below zero); ``release`` drops it.

Bounds
    Amounts are Python ints. Redis stores them as 64-bit integers and changes them only with
    HINCRBY, but Lua compares them as doubles, which is exact below 2**53. Every amount passed in
    must therefore stay below 2**53 in magnitude (checked here, ``ValueError`` otherwise), and
    comparisons are exact while caps, used and held each stay below 9e15 nano-units, i.e.
    9,000,000 currency units per bucket.

Rate windows
    A sliding window: ``window_take`` passes when the units taken in the last ``window_seconds``
    plus ``cost`` stay within ``limit``, so no ``window_seconds`` span ever admits more than
    ``limit`` units. Units are kept in ``WINDOW_SLICES`` slices of ``window_seconds /
    WINDOW_SLICES`` each, and the check counts every slice that overlaps the last window in full,
    so it errs on the strict side (a window is at most one slice longer, never shorter); a refusal
    says how long until enough old slices have left it. A cost above ``limit`` passes only on an
    empty window and is counted in full (otherwise it could never pass). ``window_adjust`` corrects
    a take afterwards (estimated tokens -> real tokens) without checking: more units are counted at
    the time of the correction, fewer are taken back from the slices the units were counted in
    (``complete`` finds the admission slice from the request id), never from later ones.

A request in one call each way
    ``admit`` takes everything one request needs (its rate windows, its concurrency slots and its
    money hold) at once or nothing, and ``complete`` gives it all back (window corrections, slots,
    settle or release) at once. The gateway's request path uses only these two: one store call
    (one Redis round trip) on the way in and one on the way out, whatever limits and caps apply.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

MAX_AMOUNT = 2**53  # every amount's magnitude stays strictly below this (exact in a Lua double)
HOLD_TTL_SECONDS = 3600  # a hold nobody settles or releases is released by release_expired_holds
CREDIT_MEMORY_SECONDS = 7 * 86400  # how long a credit's entry id is remembered (applied at most once)
WINDOW_SLICES = 30  # a rate window is counted in this many slices (2 s each for a minute)


@dataclass(frozen=True, slots=True)
class Bucket:
    """A reference to a money bucket and the cap to enforce on it.

    ``stored=True``: enforce the cap stored in the bucket (owner balance; no stored cap counts as 0)
    and ``cap`` must be None. ``stored=False``: enforce ``cap`` (None = unlimited).
    ``ttl_seconds``: the bucket expires this long after it is first created by a hold (period caps).
    """

    name: str
    cap: int | None = None
    ttl_seconds: int | None = None
    stored: bool = False

    def __post_init__(self) -> None:
        if self.stored and self.cap is not None:
            raise ValueError(f"bucket {self.name}: a stored-cap bucket takes no cap (got {self.cap})")
        if self.cap is not None:
            check_amount(self.cap, "cap")
        if self.ttl_seconds is not None and self.ttl_seconds <= 0:
            raise ValueError(f"bucket {self.name}: ttl_seconds must be positive (got {self.ttl_seconds})")


@dataclass(frozen=True, slots=True)
class BucketState:
    """What a bucket holds now; a missing bucket reads as (None, 0, 0)."""

    cap: int | None
    used: int
    held: int


@dataclass(frozen=True, slots=True)
class Shortfall:
    """Why a reserve was refused: the first bucket that could not cover it and what it had available."""

    bucket: str
    available: int


# (name, limit, window seconds, units): units taken by ``admit``, or the correction made by ``complete``
Window = tuple[str, int, float, int]
# (name, limit): a concurrency slot held by the request id until ``complete``
Slot = tuple[str, int]


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why ``admit`` took nothing: the first part that refused, by position in its argument.

    ``part`` is ``window`` (``wait`` = seconds until it would pass), ``slot`` (all taken) or
    ``money`` (``available`` = what the bucket had; the bucket is ``buckets[index]``).
    """

    part: str
    index: int
    wait: float = 0.0
    available: int = 0


class CounterStore(Protocol):
    """Atomic counters for money buckets, holds, rate windows and concurrency leases."""

    async def reserve(self, hold_id: str, buckets: Sequence[Bucket], amount: int) -> Shortfall | None:
        """Hold ``amount`` on every bucket, or on none and return the first shortfall.

        Idempotent while the hold lives: reserving a live ``hold_id`` again returns None and holds
        nothing more (even with another amount). After settle/release the id may be reused.
        """
        ...

    async def settle(self, hold_id: str, actual: int) -> bool:
        """Turn a hold into spending: held -= hold, used += actual. False when the hold is unknown."""
        ...

    async def release(self, hold_id: str) -> bool:
        """Drop a hold: held -= hold. False when the hold is unknown (already settled or released)."""
        ...

    async def release_expired_holds(self, limit: int = 1000) -> int:
        """Release up to ``limit`` holds older than the hold TTL (a crashed worker's); returns how many.

        Run it periodically (a supervised background task): until then an orphaned hold keeps its
        amount unavailable.
        """
        ...

    async def credit(self, bucket_name: str, amount: int, entry_id: str) -> bool:
        """cap += amount (may be negative), at most once per (bucket, entry_id) within 7 days."""
        ...

    async def give_back(self, bucket_name: str, amount: int, entry_id: str) -> bool:
        """used -= amount (may be negative) on a bucket that exists, at most once per (bucket, entry_id) within
        7 days: money given back to (or taken again from) a key's cap. A bucket not loaded yet is left alone
        (False): its load reads the ledger, which has the entry."""
        ...

    async def load(self, bucket_name: str, cap: int | None, used: int, only_if_absent: bool = True,
                   ttl_seconds: int | None = None) -> bool:
        """Set a bucket's cap and used (from the database at start-up); held is kept.

        With ``only_if_absent`` nothing happens when the bucket exists. Returns whether it was set.
        """
        ...

    async def read(self, bucket_name: str) -> BucketState:
        ...

    async def window_take(self, name: str, limit: int, window_seconds: float, cost: int) -> float | None:
        """Take ``cost`` units if fewer than ``limit`` would then be counted in the last
        ``window_seconds``; else seconds to wait (> 0).

        A cost above ``limit`` is checked as ``limit`` (it passes only when the window is empty) and
        counted in full.
        """
        ...

    async def window_adjust(self, name: str, limit: int, window_seconds: float, delta: int) -> None:
        """Count ``delta`` more units in the window now, without checking; a negative ``delta`` takes
        units back from the oldest slices that still count (never below zero)."""
        ...

    async def concurrency_take(self, name: str, limit: int, lease_id: str, ttl_seconds: float) -> bool:
        """Take a lease if fewer than ``limit`` are live; leases expire after ``ttl_seconds``.

        Taking a live lease id again renews it and returns True.
        """
        ...

    async def concurrency_release(self, name: str, lease_id: str) -> bool:
        """Give a lease back; False when it was not held (released already or expired)."""
        ...

    async def admit(self, request_id: str, windows: Sequence[Window], slots: Sequence[Slot], slot_ttl_seconds: float,
                    buckets: Sequence[Bucket], amount: int | None) -> Refusal | None:
        """Take every window, every slot and (unless ``amount`` is None) the hold, or nothing.

        Checks run in order (windows, slots, money); the first that fails is returned and nothing
        is changed. The slots and the hold are held under ``request_id``. Like ``reserve``, a live
        hold is not taken twice.
        """
        ...

    async def complete(self, request_id: str, windows: Sequence[Window], slots: Sequence[str],
                       buckets: Sequence[str], actual: int | None) -> None:
        """End an admitted request: add each window's units (a correction, may be negative, unchecked:
        more units count from now, fewer are taken back from the slice the request was admitted in, and
        never more than the request took there: the caller's promise),
        give back the named slots, and settle the hold on ``buckets`` to ``actual`` (None releases it).

        With no ``buckets`` there is no hold to end. Ending it twice changes nothing the second time.
        """
        ...

    async def flush(self) -> None:
        """Wait until every ``complete`` made here is applied where other workers see it (Redis sends
        completes in batches, within a few milliseconds; memory applies them at once)."""
        ...

    async def close(self) -> None:
        ...


def check_amount(value: int, what: str = "amount") -> int:
    """Reject non-ints and magnitudes that a Redis Lua double could not compare exactly."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{what} must be an int, got {type(value).__name__}")
    if not -MAX_AMOUNT < value < MAX_AMOUNT:
        raise ValueError(f"{what} {value} is outside ±2**53; counters compare amounts exactly only below that")
    return value


def check_windows(windows: Sequence[Window]) -> None:
    for name, limit, window_seconds, _ in windows:
        if limit < 1 or window_seconds <= 0:
            raise ValueError(f"window {name}: a rate limit must be at least 1 per positive window "
                             f"(got {limit} per {window_seconds} s)")


def check_rate(limit: int, window_seconds: float) -> None:
    if limit < 1:
        raise ValueError(f"a rate limit must be at least 1 (got {limit})")
    if window_seconds <= 0:
        raise ValueError(f"a rate window must be positive (got {window_seconds})")
