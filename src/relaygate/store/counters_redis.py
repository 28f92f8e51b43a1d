"""CounterStore in Redis, shared by workers and machines: every multi-step operation is one Lua script.

Keys (all under ``prefix``): ``b:<bucket>`` hash {cap, used, held}; ``h:<hold id>`` hash
{amount, buckets}; ``holds`` sorted set of hold ids scored by expiry (ms); ``e:<bucket>`` sorted
set of applied credit entry ids scored by time; ``w:<window>:<name>`` a GCRA arrival time (µs);
``c:<name>`` sorted set of lease ids scored by expiry (ms). Times come from the Redis server's
clock, so workers with skewed clocks still agree.

Scripts touch only the keys they are given. Settle and release first read which buckets a hold
covers, then run a script that checks the hold still covers exactly those (and retries if a
reused hold id changed them meanwhile). For Redis Cluster, put a hash tag in the prefix
(``"{rg}:"``) so every key lands in one slot.

Money is changed only with HINCRBY on strings passed from Python or read from Redis, never on a
Lua number turned back into text, so 64-bit values are never rounded; comparisons use Lua doubles,
exact below 2**53 (see ``store/counters.py``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis

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
    check_windows,
)

_NOW_MS = """
local t = redis.call('TIME')
local now_ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function int(x) return string.format('%.0f', x) end
"""

# KEYS: hold, holds index, bucket... ARGV: actual ('' = release), bucket names json as read, hold id
_FINISH = """
local h = redis.call('HMGET', KEYS[1], 'amount', 'buckets')
if not h[1] then
  redis.call('ZREM', KEYS[2], ARGV[3])
  return 0
end
if h[2] ~= ARGV[2] then return -1 end
for i = 3, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    if h[1] ~= '0' then redis.call('HINCRBY', KEYS[i], 'held', '-' .. h[1]) end
    if ARGV[1] ~= '' then redis.call('HINCRBY', KEYS[i], 'used', ARGV[1]) end
  end
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[3])
return 1
"""

# KEYS: bucket, entries. ARGV: amount, entry id, remember ms
_CREDIT = _NOW_MS + """
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', int(now_ms - tonumber(ARGV[3])))
if redis.call('ZADD', KEYS[2], 'NX', int(now_ms), ARGV[2]) == 0 then return 0 end
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('HINCRBY', KEYS[1], 'cap', ARGV[1])
return 1
"""

# KEYS: bucket. ARGV: cap ('' = none), used, only if absent ('1'/'0'), ttl seconds ('' = keep)
_LOAD = """
if ARGV[3] == '1' and redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if ARGV[1] == '' then redis.call('HDEL', KEYS[1], 'cap') else redis.call('HSET', KEYS[1], 'cap', ARGV[1]) end
redis.call('HSET', KEYS[1], 'used', ARGV[2])
redis.call('HSETNX', KEYS[1], 'held', '0')
if ARGV[4] ~= '' then redis.call('EXPIRE', KEYS[1], ARGV[4]) end
return 1
"""

# KEYS: leases. ARGV: lease id. 1 when the lease was live.
_LEASE_RELEASE = _NOW_MS + """
local expires = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not expires then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
if tonumber(expires) <= now_ms then return 0 end
return 1
"""

# One request in: rate windows, concurrency slots and the money hold, all checked before any is taken.
# KEYS: hold, holds index, window..., slot..., bucket...
# ARGV: #windows, #slots, request id, slot ttl ms, amount ('' = no hold), hold ttl ms, bucket names json,
# then per window: limit, window µs, units; per slot: limit; per bucket: mode ('s' stored cap,
# 'c' given cap, 'u' unlimited), cap, ttl seconds ('' = none).
# Returns {1}, or {0, 'window', i, wait µs}, {0, 'slot', i}, {0, 'money', i, cap, used, held}.
_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local now_ms = math.floor(now / 1000)
local function int(x) return string.format('%.0f', x) end
local nw, ns = tonumber(ARGV[1]), tonumber(ARGV[2])
local nb = #KEYS - 2 - nw - ns
local a = 8
local tats = {}
for i = 1, nw do
  local limit, window, units = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  a = a + 3
  local interval = window / limit
  local tat = tonumber(redis.call('GET', KEYS[2 + i]) or '0')
  if tat < now then tat = now end
  local over = tat + math.min(units, limit) * interval - now - window
  if over > 0.001 then return {0, 'window', i, math.max(1, math.ceil(over))} end
  tats[i] = tat + units * interval
end
for i = 1, ns do
  local key = KEYS[2 + nw + i]
  local limit = tonumber(ARGV[a])
  a = a + 1
  if not redis.call('ZSCORE', key, ARGV[3]) and redis.call('ZCARD', key) >= limit then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', int(now_ms))
    if redis.call('ZCARD', key) >= limit then return {0, 'slot', i} end
  end
end
local hold = ARGV[5] ~= '' and redis.call('EXISTS', KEYS[1]) == 0
if hold then
  local amount = tonumber(ARGV[5])
  for i = 1, nb do
    local mode = ARGV[a + 3 * (i - 1)]
    if mode ~= 'u' then
      local f = redis.call('HMGET', KEYS[2 + nw + ns + i], 'cap', 'used', 'held')
      local cap = ARGV[a + 3 * (i - 1) + 1]
      if mode == 's' then cap = f[1] or '0' end
      local used, held = f[2] or '0', f[3] or '0'
      if tonumber(cap) - tonumber(used) - tonumber(held) < amount then return {0, 'money', i, cap, used, held} end
    end
  end
end
for i = 1, nw do
  redis.call('SET', KEYS[2 + i], int(tats[i]), 'PX', int(math.ceil((tats[i] - now) / 1000) + 1000))
end
local slot_ttl = tonumber(ARGV[4])
for i = 1, ns do
  local key = KEYS[2 + nw + i]
  redis.call('ZADD', key, int(now_ms + slot_ttl), ARGV[3])
  if redis.call('PTTL', key) < slot_ttl then redis.call('PEXPIRE', key, ARGV[4]) end
end
if hold then
  for i = 1, nb do
    local key = KEYS[2 + nw + ns + i]
    redis.call('HINCRBY', key, 'held', ARGV[5])
    local ttl = ARGV[a + 3 * (i - 1) + 2]
    if ttl ~= '' and redis.call('TTL', key) == -1 then redis.call('EXPIRE', key, ttl) end
  end
  redis.call('HSET', KEYS[1], 'amount', ARGV[5], 'buckets', ARGV[7])
  redis.call('PEXPIRE', KEYS[1], int(tonumber(ARGV[6]) + 86400000))
  redis.call('ZADD', KEYS[2], int(now_ms + tonumber(ARGV[6])), ARGV[3])
end
return {1}
"""

# One request out. KEYS: hold, holds index, window..., slot..., bucket...
# ARGV: #windows, #slots, request id, actual ('' = release), bucket names json ('' = no hold),
# then per window: limit, window µs, units (a correction). Returns -1, changing nothing, when the hold
# covers other buckets than those named (a reused id); else 1.
_COMPLETE = """
local nw, ns = tonumber(ARGV[1]), tonumber(ARGV[2])
local h = nil
if ARGV[5] ~= '' then
  h = redis.call('HMGET', KEYS[1], 'amount', 'buckets')
  if h[1] and h[2] ~= ARGV[5] then return -1 end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local a = 6
for i = 1, nw do
  local limit, window, units = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  a = a + 3
  local tat = tonumber(redis.call('GET', KEYS[2 + i]) or '0')
  if tat < now then tat = now end
  tat = tat + units * window / limit
  if tat <= now then
    redis.call('DEL', KEYS[2 + i])
  else
    local ttl_ms = math.ceil((tat - now) / 1000) + 1000
    redis.call('SET', KEYS[2 + i], string.format('%.0f', tat), 'PX', string.format('%.0f', ttl_ms))
  end
end
for i = 1, ns do redis.call('ZREM', KEYS[2 + nw + i], ARGV[3]) end
if h then
  redis.call('ZREM', KEYS[2], ARGV[3])
  if h[1] then
    for i = 3 + nw + ns, #KEYS do
      if redis.call('EXISTS', KEYS[i]) == 1 then
        if h[1] ~= '0' then redis.call('HINCRBY', KEYS[i], 'held', '-' .. h[1]) end
        if ARGV[4] ~= '' then redis.call('HINCRBY', KEYS[i], 'used', ARGV[4]) end
      end
    end
    redis.call('DEL', KEYS[1])
  end
end
return 1
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _ms(seconds: float) -> str:
    return str(max(1, round(seconds * 1000)))


class RedisCounters:
    """Counters in Redis.

    Pass a URL, and the store owns a pool of up to ``max_connections`` connections (callers beyond
    that wait for a free one instead of failing) and closes it in ``close``; or pass a
    ``redis.asyncio`` client, which the caller keeps and closes.
    """

    def __init__(self, url_or_client: str | Redis, *, prefix: str = "rg:",
                 hold_ttl_seconds: float = HOLD_TTL_SECONDS, max_connections: int = 64) -> None:
        if isinstance(url_or_client, str):
            pool = BlockingConnectionPool.from_url(url_or_client, max_connections=max_connections)
            self.client: Redis = Redis.from_pool(pool)
            self._owned = True
        else:
            self.client = url_or_client
            self._owned = False
        self.prefix = prefix
        self.hold_ttl_seconds = hold_ttl_seconds
        register = self.client.register_script
        self._finish = register(_FINISH)
        self._credit = register(_CREDIT)
        self._load = register(_LOAD)
        self._lease_release = register(_LEASE_RELEASE)
        self._admit = register(_ADMIT)
        self._complete = register(_COMPLETE)

    def _bucket(self, name: str) -> str:
        return f"{self.prefix}b:{name}"

    def _hold(self, hold_id: str) -> str:
        return f"{self.prefix}h:{hold_id}"

    @property
    def _holds(self) -> str:
        return f"{self.prefix}holds"

    # --- money buckets ------------------------------------------------------------------------

    async def reserve(self, hold_id: str, buckets: Sequence[Bucket], amount: int) -> Shortfall | None:
        refusal = await self.admit(hold_id, (), (), 0, buckets, amount)
        return None if refusal is None else Shortfall(buckets[refusal.index].name, refusal.available)

    async def _end(self, hold_id: str, actual: str) -> bool:
        hold_key = self._hold(hold_id)
        for _ in range(5):
            raw = await self.client.hget(hold_key, "buckets")
            names_json = "" if raw is None else _text(raw)
            names: list[str] = json.loads(names_json) if names_json else []
            keys = [hold_key, self._holds, *(self._bucket(name) for name in names)]
            result = int(await self._finish(keys=keys, args=[actual, names_json, hold_id]))
            if result != -1:
                return result == 1
        raise RuntimeError(f"hold {hold_id} kept changing while it was being settled")

    async def settle(self, hold_id: str, actual: int) -> bool:
        check_amount(actual, "actual")
        if actual < 0:
            raise ValueError(f"a settled amount cannot be negative (got {actual}); credit a refund instead")
        return await self._end(hold_id, str(actual))

    async def release(self, hold_id: str) -> bool:
        return await self._end(hold_id, "")

    async def release_expired_holds(self, limit: int = 1000) -> int:
        seconds, micros = await self.client.time()
        now_ms = int(seconds) * 1000 + int(micros) // 1000
        expired = await self.client.zrangebyscore(self._holds, "-inf", now_ms, start=0, num=limit)
        released = 0
        for hold_id in expired:
            released += await self._end(_text(hold_id), "")
        return released

    async def credit(self, bucket_name: str, amount: int, entry_id: str) -> bool:
        check_amount(amount)
        keys = [self._bucket(bucket_name), f"{self.prefix}e:{bucket_name}"]
        return int(await self._credit(keys=keys, args=[str(amount), entry_id, _ms(CREDIT_MEMORY_SECONDS)])) == 1

    async def load(self, bucket_name: str, cap: int | None, used: int, only_if_absent: bool = True,
                   ttl_seconds: int | None = None) -> bool:
        if cap is not None:
            check_amount(cap, "cap")
        check_amount(used, "used")
        args = ["" if cap is None else str(cap), str(used), "1" if only_if_absent else "0",
                "" if ttl_seconds is None else str(ttl_seconds)]
        return int(await self._load(keys=[self._bucket(bucket_name)], args=args)) == 1

    async def read(self, bucket_name: str) -> BucketState:
        cap, used, held = await self.client.hmget(self._bucket(bucket_name), ["cap", "used", "held"])
        return BucketState(None if cap is None else int(cap), int(used or 0), int(held or 0))

    # --- rate windows (GCRA) ------------------------------------------------------------------

    async def window_take(self, name: str, limit: int, window_seconds: float, cost: int) -> float | None:
        refusal = await self.admit("", ((name, limit, window_seconds, cost),), (), 0, (), None)
        return None if refusal is None else refusal.wait

    async def window_adjust(self, name: str, limit: int, window_seconds: float, delta: int) -> None:
        await self.complete("", ((name, limit, window_seconds, delta),), (), (), None)

    # --- concurrency leases -------------------------------------------------------------------

    async def concurrency_take(self, name: str, limit: int, lease_id: str, ttl_seconds: float) -> bool:
        return await self.admit(lease_id, (), ((name, limit),), ttl_seconds, (), None) is None

    async def concurrency_release(self, name: str, lease_id: str) -> bool:
        return int(await self._lease_release(keys=[f"{self.prefix}c:{name}"], args=[lease_id])) == 1

    # --- one request, all at once ------------------------------------------------------------

    async def admit(self, request_id: str, windows: Sequence[Window], slots: Sequence[Slot], slot_ttl_seconds: float,
                    buckets: Sequence[Bucket], amount: int | None) -> Refusal | None:
        check_windows(windows)
        if amount is not None:
            check_amount(amount)
            if amount < 0:
                raise ValueError(f"a hold cannot be negative (got {amount})")
        if not buckets:
            amount = None
        prefix = self.prefix
        keys = [f"{prefix}h:{request_id}", f"{prefix}holds"]
        args: list[Any] = [len(windows), len(slots), request_id, _ms(slot_ttl_seconds),
                           "" if amount is None else str(amount), _ms(self.hold_ttl_seconds),
                           json.dumps([b.name for b in buckets]) if amount is not None else ""]
        for name, limit, window_seconds, units in windows:
            if units < 0:
                raise ValueError(f"a window cost cannot be negative (got {units})")
            keys.append(f"{prefix}w:{window_seconds:g}:{name}")
            args += (limit, repr(float(window_seconds) * 1_000_000), units)
        for name, limit in slots:
            keys.append(f"{prefix}c:{name}")
            args.append(limit)
        if amount is not None:
            for ref in buckets:
                keys.append(f"{prefix}b:{ref.name}")
                mode = "s" if ref.stored else ("u" if ref.cap is None else "c")
                args += (mode, "" if ref.cap is None else str(ref.cap),
                         "" if ref.ttl_seconds is None else str(ref.ttl_seconds))
        result = await self._admit(keys=keys, args=args)
        if int(result[0]) == 1:
            return None
        part, index = _text(result[1]), int(result[2]) - 1
        if part == "window":
            return Refusal("window", index, wait=int(result[3]) / 1_000_000)
        if part == "slot":
            return Refusal("slot", index)
        cap, used, held = (int(_text(v)) for v in result[3:6])
        return Refusal("money", index, available=cap - used - held)

    async def complete(self, request_id: str, windows: Sequence[Window], slots: Sequence[str],
                       buckets: Sequence[str], actual: int | None) -> None:
        check_windows(windows)
        if actual is not None:
            check_amount(actual, "actual")
            if actual < 0:
                raise ValueError(f"a settled amount cannot be negative (got {actual}); credit a refund instead")
        prefix = self.prefix
        keys = [f"{prefix}h:{request_id}", f"{prefix}holds"]
        names_json = json.dumps(list(buckets)) if buckets else ""
        args: list[Any] = [len(windows), len(slots), request_id, "" if actual is None else str(actual), names_json]
        for name, limit, window_seconds, units in windows:
            keys.append(f"{prefix}w:{window_seconds:g}:{name}")
            args += (limit, repr(float(window_seconds) * 1_000_000), units)
        keys += (f"{prefix}c:{name}" for name in slots)
        keys += (f"{prefix}b:{name}" for name in buckets)
        if int(await self._complete(keys=keys, args=args)) == -1:
            # the hold id was reused for other buckets: end the rest here, the hold as settle/release do
            args[4] = ""
            await self._complete(keys=keys[:2 + len(windows) + len(slots)], args=args)
            await self._end(request_id, args[3])

    async def close(self) -> None:
        if self._owned:
            await self.client.aclose()
