"""Rate limits through the Gate: each kind refuses with its own message and Retry-After, refusals take nothing,
leaving corrects the token windows."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from redis.asyncio import Redis

from relaygate.core.errors import GatewayError
from relaygate.services.gateway.gate import Gate, Pass
from relaygate.services.gateway.limits import LimitPlan, LimitRule
from relaygate.store.counters import CounterStore
from relaygate.store.counters_memory import MemoryCounters
from relaygate.store.counters_redis import RedisCounters

REDIS_URL = os.environ.get("RELAYGATE_TEST_REDIS_URL", "")
_HINT = "Redis: set RELAYGATE_TEST_REDIS_URL=redis://127.0.0.1:6379/15 (.ci/run does)"


@pytest.fixture(params=[
    pytest.param("memory", id="memory"),
    pytest.param("redis", id="redis", marks=[pytest.mark.redis, pytest.mark.skipif(not REDIS_URL, reason=_HINT)]),
])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[CounterStore]:
    if request.param == "memory":
        yield MemoryCounters()
        return
    prefix = f"rgtest:{uuid.uuid4().hex[:12]}:"
    counters = RedisCounters(REDIS_URL, prefix=prefix)
    yield counters
    await counters.close()
    client = Redis.from_url(REDIS_URL)
    keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


class Limiter:
    """The gate without billing, as the relay uses it for a key whose model is free."""

    def __init__(self, store: CounterStore) -> None:
        self.gate = Gate(store, None)

    async def acquire(self, rules: list[LimitRule], request_id: str, est: int) -> Lease:
        return Lease(self.gate, await self.gate.admit(LimitPlan.of(rules), request_id, est, None))


class Lease:
    def __init__(self, gate: Gate, admitted: Pass | None) -> None:
        self.gate, self.admitted = gate, admitted

    async def finish(self, tokens: int) -> None:
        if self.admitted is not None:
            await self.gate.leave(self.admitted, True, tokens, 0, 0, tokens)


@pytest.fixture
def limiter(store: CounterStore) -> Limiter:
    return Limiter(store)


async def refusal(limiter: Limiter, rules: list[LimitRule], lease_id: str, est: int) -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        await limiter.acquire(rules, lease_id, est)
    assert caught.value.code == "rate_limited" and caught.value.status == 429
    return caught.value


def retry_after(error: GatewayError) -> int:
    """Seconds in Retry-After: until the first request leaves the window, a minute (and at most one
    2 s slice) after it was taken; less when taking the others took a while (a loaded machine)."""
    seconds = int(error.headers["Retry-After"])
    assert 30 < seconds <= 62, error.headers
    return seconds


async def test_requests_per_minute(limiter: Limiter) -> None:
    rules = [LimitRule("key:key_abc", rpm=60)]
    for i in range(60):
        await limiter.acquire(rules, f"r{i}", 10)
    error = await refusal(limiter, rules, "r60", 10)
    seconds = retry_after(error)  # a sliding window: the first request leaves it after a minute
    assert error.message("en") == (f"Rate limit reached for key key_abc: 60 requests per minute. "
                                   f"Retry after {seconds} s.")
    assert error.message("zh-CN") == f"已达到密钥 key_abc 的速率限制：每分钟 60 次请求。请在 {seconds} 秒后重试。"


async def test_tokens_per_minute(limiter: Limiter) -> None:
    rules = [LimitRule("group:vip", tpm=1000)]
    await limiter.acquire(rules, "r1", 600)
    error = await refusal(limiter, rules, "r2", 600)  # 200 tokens short until the 600 leave the window
    seconds = retry_after(error)
    assert error.message("en") == (f"Rate limit reached for group vip: 1,000 tokens per minute. "
                                   f"Retry after {seconds} s.")
    assert error.message("zh") == f"已达到分组 vip 的速率限制：每分钟 1,000 个 Token。请在 {seconds} 秒后重试。"
    await limiter.acquire(rules, "r3", 400)


async def test_concurrency_and_finish_frees_the_slot(limiter: Limiter) -> None:
    rules = [LimitRule("key:key_abc", concurrency=1)]
    lease = await limiter.acquire(rules, "r1", 10)
    error = await refusal(limiter, rules, "r2", 10)
    assert error.headers == {"Retry-After": "1"}
    assert error.message("en") == "Concurrency limit reached for key key_abc: 1 request at a time. Retry after 1 s."
    assert error.message("zh") == "已达到密钥 key_abc 的并发限制：最多同时处理 1 个请求。请在 1 秒后重试。"
    await lease.finish(10)
    second = await limiter.acquire(rules, "r2", 10)
    await lease.finish(10)  # finishing twice does not free r2's slot
    await refusal(limiter, rules, "r3", 10)
    await second.finish(10)


async def test_a_refusal_gives_back_what_it_took(limiter: Limiter) -> None:
    key = LimitRule("key:key_abc", rpm=2, tpm=1000, concurrency=2)
    group = LimitRule("group:vip", tpm=500)
    await limiter.acquire([key, group], "r1", 400)
    error = await refusal(limiter, [key, group], "r2", 400)
    assert error.message("en").startswith("Rate limit reached for group vip: 500 tokens per minute.")
    # had r2 kept its request, tokens or slot under the key's limits, this would be refused
    await limiter.acquire([key], "r3", 400)
    error = await refusal(limiter, [key], "r4", 1)
    assert "2 requests per minute" in error.message("en")


async def test_finish_counts_the_real_tokens(limiter: Limiter) -> None:
    rules = [LimitRule("key:key_abc", tpm=1000), LimitRule("group:vip", rpm=100)]
    lease = await limiter.acquire(rules, "r1", 900)
    await lease.finish(100)  # 800 tokens back
    second = await limiter.acquire(rules, "r2", 900)
    await second.finish(1500)  # 600 more than estimated: 1,600 in the window now
    await second.finish(1500)
    error = await refusal(limiter, rules, "r3", 1)
    retry_after(error)  # 1,601 > 1,000 until r1's 100 and r2's 1,500 leave the window


async def test_rules_without_limits_cost_nothing() -> None:
    class NoCalls:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"the store was called: {name}")

    limiter = Limiter(cast(CounterStore, NoCalls()))
    lease = await limiter.acquire([LimitRule("key:a"), LimitRule("group:default")], "r1", 500)
    assert lease.admitted is None
    await lease.finish(700)
    await limiter.acquire([], "r2", 500)


async def test_one_store_call_each_way(store: CounterStore) -> None:
    calls: list[str] = []

    class Counting:
        def __getattr__(self, name: str) -> Any:
            calls.append(name)
            return getattr(store, name)

    limiter = Limiter(cast(CounterStore, Counting()))
    rules = [LimitRule("key:a", rpm=10, tpm=1000, concurrency=2), LimitRule("group:g", rpm=100, tpm=10_000)]
    lease = await limiter.acquire(rules, "r1", 100)
    await lease.finish(250)
    await lease.finish(250)
    assert calls == ["admit", "complete"]
