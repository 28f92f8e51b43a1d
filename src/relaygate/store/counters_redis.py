"""CounterStore in Redis, shared by workers and machines: every multi-step operation is one Lua script.

Keys (all under ``prefix``): ``b:<bucket>`` hash {cap, used, held}; ``h:<hold id>`` hash
{amount, buckets}; ``holds`` sorted set of hold ids scored by expiry (ms); ``e:<bucket>`` sorted
set of applied credit entry ids scored by time; ``s:<window>:<name>`` a sliding window, a hash of
slice index -> units; ``a:<request id>`` when the request took its windows (µs, for corrections);
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

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis

from relaygate.store.counters import (
    CREDIT_MEMORY_SECONDS,
    HOLD_TTL_SECONDS,
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

# KEYS: bucket, entries. ARGV: -amount, entry id, remember ms. Only on a bucket that exists.
_GIVE_BACK = _NOW_MS + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', int(now_ms - tonumber(ARGV[3])))
if redis.call('ZADD', KEYS[2], 'NX', int(now_ms), ARGV[2]) == 0 then return 0 end
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('HINCRBY', KEYS[1], 'used', ARGV[1])
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

# Requests in and out, many per round trip: the ops of one batch run in order, each all or nothing.
# ARGV[1]: slices per window; then per op: kind ('a' admit, 'c' complete), #keys, #args, its args.
# KEYS: every op's keys, op after op. Returns one result per op.
#
# admit. Keys: hold, holds index, admission, window..., slot..., bucket...
# Args: #windows, #slots, request id, slot ttl ms, amount ('' = no hold), hold ttl ms, bucket names json,
# admission ttl ms, then per window: limit, window µs, units; per slot: limit; per bucket: mode ('s'
# stored cap, 'c' given cap, 'u' unlimited), cap, ttl seconds ('' = none).
# Result: {1}, or {0, 'window', i, wait µs}, {0, 'slot', i}, {0, 'money', i, cap, used, held}.
#
# complete. Keys: hold, holds index, admission, window..., slot..., bucket...
# Args: #windows, #slots, request id, actual ('' = release), bucket names json ('' = no hold), then per
# window: limit, window µs, units (a correction). Result: -1, changing nothing, when the hold covers other
# buckets than those named (a reused id); else 1.
#
# A window is a hash of slice index -> units; a slice is window / slices wide, and every slice that
# overlaps the last window counts in full (see store/counters.py).
_BATCH = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local now_ms = math.floor(now / 1000)
local S = tonumber(ARGV[1])
local function int(x) return string.format('%.0f', x) end

local function live_slices(key, floor)
  local f = redis.call('HGETALL', key)
  local counted, live, stale = 0, {}, {}
  for j = 1, #f, 2 do
    local k = tonumber(f[j])
    if k < floor then
      stale[#stale + 1] = f[j]
    else
      local v = tonumber(f[j + 1])
      counted = counted + v
      live[#live + 1] = {k, v}
    end
  end
  if #stale > 0 then redis.call('HDEL', key, unpack(stale)) end
  table.sort(live, function(x, y) return x[1] < y[1] end)
  return counted, live
end

local function count(key, idx, units, width)
  redis.call('HINCRBY', key, int(idx), int(units))
  redis.call('PEXPIRE', key, int(math.ceil((S + 1) * width / 1000) + 1000))
end

local function admit(K, A)
  local nw, ns = tonumber(A[1]), tonumber(A[2])
  local nb = #K - 3 - nw - ns
  local a = 9
  local takes = {}
  for i = 1, nw do
    local limit, window, units = tonumber(A[a]), tonumber(A[a + 1]), tonumber(A[a + 2])
    a = a + 3
    local width = window / S
    local idx = math.floor(now / width)
    local counted, live = live_slices(K[3 + i], idx - S)
    local over = counted + math.min(units, limit) - limit
    if over > 0 then
      local freed, wait = 0, (S + 1) * width
      for j = 1, #live do
        freed = freed + live[j][2]
        if freed >= over then
          wait = (live[j][1] + S + 1) * width - now
          break
        end
      end
      return {0, 'window', i, math.max(1000, math.ceil(wait))}
    end
    takes[i] = {idx, units, width}
  end
  for i = 1, ns do
    local key = K[3 + nw + i]
    local limit = tonumber(A[a])
    a = a + 1
    if not redis.call('ZSCORE', key, A[3]) and redis.call('ZCARD', key) >= limit then
      redis.call('ZREMRANGEBYSCORE', key, '-inf', int(now_ms))
      if redis.call('ZCARD', key) >= limit then return {0, 'slot', i} end
    end
  end
  local hold = A[5] ~= '' and redis.call('EXISTS', K[1]) == 0
  if hold then
    local amount = tonumber(A[5])
    for i = 1, nb do
      local mode = A[a + 3 * (i - 1)]
      if mode ~= 'u' then
        local f = redis.call('HMGET', K[3 + nw + ns + i], 'cap', 'used', 'held')
        local cap = A[a + 3 * (i - 1) + 1]
        if mode == 's' then cap = f[1] or '0' end
        local used, held = f[2] or '0', f[3] or '0'
        if tonumber(cap) - tonumber(used) - tonumber(held) < amount then return {0, 'money', i, cap, used, held} end
      end
    end
  end
  for i = 1, nw do
    local tk = takes[i]
    if tk[2] > 0 then count(K[3 + i], tk[1], tk[2], tk[3]) end
  end
  if nw > 0 and A[3] ~= '' then redis.call('SET', K[3], int(now), 'PX', A[8]) end
  local slot_ttl = tonumber(A[4])
  for i = 1, ns do
    local key = K[3 + nw + i]
    redis.call('ZADD', key, int(now_ms + slot_ttl), A[3])
    if redis.call('PTTL', key) < slot_ttl then redis.call('PEXPIRE', key, A[4]) end
  end
  if hold then
    for i = 1, nb do
      local key = K[3 + nw + ns + i]
      redis.call('HINCRBY', key, 'held', A[5])
      local ttl = A[a + 3 * (i - 1) + 2]
      if ttl ~= '' and redis.call('TTL', key) == -1 then redis.call('EXPIRE', key, ttl) end
    end
    redis.call('HSET', K[1], 'amount', A[5], 'buckets', A[7])
    redis.call('PEXPIRE', K[1], int(tonumber(A[6]) + 86400000))
    redis.call('ZADD', K[2], int(now_ms + tonumber(A[6])), A[3])
  end
  return {1}
end

local function complete(K, A)
  local nw, ns = tonumber(A[1]), tonumber(A[2])
  local h = nil
  if A[5] ~= '' then
    h = redis.call('HMGET', K[1], 'amount', 'buckets')
    if h[1] and h[2] ~= A[5] then return -1 end
  end
  local at = nil
  if A[3] ~= '' then
    at = redis.call('GET', K[3])
    if at then
      at = tonumber(at)
      redis.call('DEL', K[3])
    end
  end
  local a = 6
  for i = 1, nw do
    local limit, window, units = tonumber(A[a]), tonumber(A[a + 1]), tonumber(A[a + 2])
    a = a + 3
    local key = K[3 + i]
    local width = window / S
    local idx = math.floor(now / width)
    if units > 0 then
      count(key, idx, units, width)
    elseif units < 0 then
      local back = -units
      if at then
        local k = math.floor(at / width)
        if k >= idx - S then
          local v = tonumber(redis.call('HGET', key, int(k)) or '0')
          if v < back then back = v end
          if back > 0 then redis.call('HINCRBY', key, int(k), int(-back)) end
        end
      elseif A[3] == '' then
        local _, live = live_slices(key, idx - S)
        for j = 1, #live do
          if back <= 0 then break end
          local take = math.min(back, live[j][2])
          if take > 0 then redis.call('HINCRBY', key, int(live[j][1]), int(-take)) end
          back = back - take
        end
      end
    end
  end
  for i = 1, ns do redis.call('ZREM', K[3 + nw + i], A[3]) end
  if h then
    redis.call('ZREM', K[2], A[3])
    if h[1] then
      for i = 4 + nw + ns, #K do
        if redis.call('EXISTS', K[i]) == 1 then
          if h[1] ~= '0' then redis.call('HINCRBY', K[i], 'held', '-' .. h[1]) end
          if A[4] ~= '' then redis.call('HINCRBY', K[i], 'used', A[4]) end
        end
      end
      redis.call('DEL', K[1])
    end
  end
  return 1
end

local out = {}
local kp, ap = 1, 2
while ap <= #ARGV do
  local kind, nk, na = ARGV[ap], tonumber(ARGV[ap + 1]), tonumber(ARGV[ap + 2])
  local K, A = {}, {}
  for i = 1, nk do K[i] = KEYS[kp + i - 1] end
  for i = 1, na do A[i] = ARGV[ap + 2 + i] end
  kp = kp + nk
  ap = ap + 3 + na
  if kind == 'a' then out[#out + 1] = admit(K, A) else out[#out + 1] = complete(K, A) end
end
return out
"""


LINGER_SECONDS = 0.01  # a complete waits this long at most for a batch to share
MAX_BATCH_OPS = 256  # ops per script call: one call blocks Redis while it runs

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Op:
    kind: str  # 'a' admit, 'c' complete
    keys: list[str]
    args: list[Any]
    future: asyncio.Future[Any] | None


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _ms(seconds: float) -> str:
    return str(max(1, round(seconds * 1000)))


class RedisCounters:
    """Counters in Redis.

    Requests' ``admit`` and ``complete`` calls are sent in batches, one script call (one round trip)
    for all that are waiting: an ``admit`` is sent at once (with everything queued behind the batch in
    flight, if one is), a ``complete`` waits up to ``linger_seconds`` for a batch to ride along with
    and returns without waiting for Redis (its effects follow within that time; ``flush`` waits for
    them). Every other call flushes what is queued first, so this store's own calls keep their order.

    Pass a URL, and the store owns a pool of up to ``max_connections`` connections (callers beyond
    that wait for a free one instead of failing) and closes it in ``close``; or pass a
    ``redis.asyncio`` client, which the caller keeps and closes.
    """

    def __init__(self, url_or_client: str | Redis, *, prefix: str = "rg:",
                 hold_ttl_seconds: float = HOLD_TTL_SECONDS, max_connections: int = 64,
                 linger_seconds: float = LINGER_SECONDS) -> None:
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
        self._give_back = register(_GIVE_BACK)
        self._load = register(_LOAD)
        self._lease_release = register(_LEASE_RELEASE)
        self._batch = register(_BATCH)
        self.linger_seconds = linger_seconds
        self._pending: list[_Op] = []
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.round_trips = 0  # batches sent (each one EVALSHA)
        self.ops_sent = 0

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
        await self.flush()
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
        await self.flush()
        seconds, micros = await self.client.time()
        now_ms = int(seconds) * 1000 + int(micros) // 1000
        expired = await self.client.zrangebyscore(self._holds, "-inf", now_ms, start=0, num=limit)
        released = 0
        for hold_id in expired:
            released += await self._end(_text(hold_id), "")
        return released

    async def credit(self, bucket_name: str, amount: int, entry_id: str) -> bool:
        await self.flush()
        check_amount(amount)
        keys = [self._bucket(bucket_name), f"{self.prefix}e:{bucket_name}"]
        return int(await self._credit(keys=keys, args=[str(amount), entry_id, _ms(CREDIT_MEMORY_SECONDS)])) == 1

    async def give_back(self, bucket_name: str, amount: int, entry_id: str) -> bool:
        await self.flush()
        check_amount(amount)
        keys = [self._bucket(bucket_name), f"{self.prefix}e:{bucket_name}"]
        return int(await self._give_back(keys=keys, args=[str(-amount), entry_id, _ms(CREDIT_MEMORY_SECONDS)])) == 1

    async def load(self, bucket_name: str, cap: int | None, used: int, only_if_absent: bool = True,
                   ttl_seconds: int | None = None) -> bool:
        if cap is not None:
            check_amount(cap, "cap")
        check_amount(used, "used")
        await self.flush()
        args = ["" if cap is None else str(cap), str(used), "1" if only_if_absent else "0",
                "" if ttl_seconds is None else str(ttl_seconds)]
        return int(await self._load(keys=[self._bucket(bucket_name)], args=args)) == 1

    async def read(self, bucket_name: str) -> BucketState:
        await self.flush()
        cap, used, held = await self.client.hmget(self._bucket(bucket_name), ["cap", "used", "held"])
        return BucketState(None if cap is None else int(cap), int(used or 0), int(held or 0))

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
        await self.flush()
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
        keys = [f"{prefix}h:{request_id}", f"{prefix}holds", f"{prefix}a:{request_id}"]
        longest = 0.0
        args: list[Any] = [len(windows), len(slots), request_id, _ms(slot_ttl_seconds),
                           "" if amount is None else str(amount), _ms(self.hold_ttl_seconds),
                           json.dumps([b.name for b in buckets]) if amount is not None else "", ""]
        for name, limit, window_seconds, units in windows:
            if units < 0:
                raise ValueError(f"a window cost cannot be negative (got {units})")
            keys.append(f"{prefix}s:{window_seconds:g}:{name}")
            args += (limit, repr(float(window_seconds) * 1_000_000), units)
            longest = max(longest, window_seconds)
        args[7] = _ms(longest * (WINDOW_SLICES + 1) / WINDOW_SLICES + 1)
        for name, limit in slots:
            keys.append(f"{prefix}c:{name}")
            args.append(limit)
        if amount is not None:
            for ref in buckets:
                keys.append(f"{prefix}b:{ref.name}")
                mode = "s" if ref.stored else ("u" if ref.cap is None else "c")
                args += (mode, "" if ref.cap is None else str(ref.cap),
                         "" if ref.ttl_seconds is None else str(ref.ttl_seconds))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append(_Op("a", keys, args, future))
        self._send_soon(True)
        result = await future
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
        """Queued: sent with the next batch, within ``linger_seconds`` (``flush`` waits for it)."""
        check_windows(windows)
        if actual is not None:
            check_amount(actual, "actual")
            if actual < 0:
                raise ValueError(f"a settled amount cannot be negative (got {actual}); credit a refund instead")
        self._pending.append(_Op("c", *self._complete_op(request_id, windows, slots, buckets, actual), None))
        self._send_soon(False)

    def _complete_op(self, request_id: str, windows: Sequence[Window], slots: Sequence[str],
                     buckets: Sequence[str], actual: int | None) -> tuple[list[str], list[Any]]:
        prefix = self.prefix
        keys = [f"{prefix}h:{request_id}", f"{prefix}holds", f"{prefix}a:{request_id}"]
        args: list[Any] = [len(windows), len(slots), request_id, "" if actual is None else str(actual),
                           json.dumps(list(buckets)) if buckets else ""]
        for name, limit, window_seconds, units in windows:
            keys.append(f"{prefix}s:{window_seconds:g}:{name}")
            args += (limit, repr(float(window_seconds) * 1_000_000), units)
        keys += (f"{prefix}c:{name}" for name in slots)
        keys += (f"{prefix}b:{name}" for name in buckets)
        return keys, args

    # --- batches ------------------------------------------------------------------------------

    def _send_soon(self, now: bool) -> None:
        if self._task is not None:
            return  # the batch in flight sends what is queued when it returns
        if now:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._task = asyncio.get_running_loop().create_task(self._send())
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.linger_seconds, self._linger_over)

    def _linger_over(self) -> None:
        self._timer = None
        if self._task is None and self._pending:
            self._task = asyncio.get_running_loop().create_task(self._send())

    async def _send(self) -> None:
        try:
            while self._pending:
                ops, self._pending = self._pending[:MAX_BATCH_OPS], self._pending[MAX_BATCH_OPS:]
                keys: list[str] = []
                args: list[Any] = [WINDOW_SLICES]
                for op in ops:
                    keys += op.keys
                    args += (op.kind, len(op.keys), len(op.args))
                    args += op.args
                try:
                    self.round_trips += 1
                    self.ops_sent += len(ops)
                    results = await self._batch(keys=keys, args=args)
                except Exception as exc:  # every op of the batch failed: admits raise, completes are logged
                    for op in ops:
                        if op.future is not None:
                            if not op.future.done():
                                op.future.set_exception(exc)
                        else:
                            log.error("Redis counters: a request's completion was lost (%s); its slots "
                                      "and hold expire by their TTL", exc)
                    continue
                for op, result in zip(ops, results, strict=True):
                    if op.future is not None:
                        if not op.future.done():
                            op.future.set_result(result)
                        elif op.future.cancelled() and int(result[0]) == 1:
                            self._pending.append(self._undo(op))  # its caller is gone: give it all back
                    elif result == -1:
                        # the hold id was reused for other buckets: end the rest here, the hold as settle/release do
                        asyncio.get_running_loop().create_task(self._complete_reused(op))
        finally:
            self._task = None
        if self._pending:  # queued while the last batch was being answered
            self._send_soon(any(op.kind == "a" for op in self._pending))

    def _undo(self, admitted: _Op) -> _Op:
        """The complete that releases what an admit took (its windows stay counted: the strict side)."""
        nw, ns = int(admitted.args[0]), int(admitted.args[1])
        names = admitted.args[6]
        k = admitted.keys
        keys = [*k[:3], *k[3 + nw:3 + nw + ns], *(k[3 + nw + ns:] if names else ())]
        return _Op("c", keys, [0, ns, admitted.args[2], "", names], None)

    async def _complete_reused(self, op: _Op) -> None:
        try:
            nw, ns = int(op.args[0]), int(op.args[1])
            rest = [*op.args[:4], "", *op.args[5:]]
            self._pending.append(_Op("c", op.keys[:3 + nw + ns], rest, None))
            self._send_soon(True)
            await self._end(str(op.args[2]), str(op.args[3]))
        except Exception:
            log.exception("Redis counters: ending a reused hold failed")

    async def flush(self) -> None:
        """Wait until everything queued (completes included) has been applied in Redis."""
        while self._pending or self._task is not None:
            if self._task is None:
                self._send_soon(True)
            task = self._task
            if task is not None:
                await asyncio.wait([task])

    async def close(self) -> None:
        await self.flush()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._owned:
            await self.client.aclose()
