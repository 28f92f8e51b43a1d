"""Per-key and per-group rate limits: requests and tokens per minute, requests at once.

``RateLimiter.acquire`` checks every rule of a request in order against a ``CounterStore`` (memory
or Redis, so several workers share the counts). It takes all or nothing: on the first refusal it
gives back what it already took and raises ``GatewayError('rate_limited')`` naming the limit,
with a ``Retry-After`` header. The returned ``Lease`` is finished when the answer is complete:
it frees the concurrency slots and corrects the token windows from the estimate to the real count.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from relaygate.core.errors import GatewayError
from relaygate.store.counters import CounterStore

log = logging.getLogger("relaygate.limits")

MINUTE = 60
LEASE_TTL_SECONDS = 900.0  # a concurrency slot a crashed worker never gave back frees itself after this
CONCURRENCY_RETRY_SECONDS = 1  # a slot frees when some request ends; there is no schedule to predict


@dataclass(frozen=True, slots=True)
class LimitRule:
    """The limits of one scope, ``key:<id>`` or ``group:<name>``; None means no limit of that kind."""

    scope: str
    rpm: int | None = None
    tpm: int | None = None
    concurrency: int | None = None


@dataclass(slots=True)
class Lease:
    """What one request took; ``finish`` it exactly once when the request ends (extra calls do nothing)."""

    store: CounterStore
    lease_id: str
    est_tokens: int
    token_windows: list[tuple[str, int]] = field(default_factory=list)  # (window name, tpm)
    slots: list[str] = field(default_factory=list)  # concurrency names holding lease_id
    finished: bool = False

    async def finish(self, actual_tokens: int) -> None:
        """Free the concurrency slots and count ``actual_tokens`` instead of the estimate."""
        if self.finished:
            return
        self.finished = True
        delta = actual_tokens - self.est_tokens
        if delta:
            for name, tpm in self.token_windows:
                await self.store.window_adjust(name, tpm, MINUTE, delta)
        for name in self.slots:
            await self.store.concurrency_release(name, self.lease_id)


class RateLimiter:
    def __init__(self, store: CounterStore, *, lease_ttl_seconds: float = LEASE_TTL_SECONDS) -> None:
        self.store = store
        self.lease_ttl_seconds = lease_ttl_seconds

    async def acquire(self, scope_rules: Sequence[LimitRule], lease_id: str, est_tokens: int) -> Lease:
        """Take one request and ``est_tokens`` tokens under every rule, or nothing and raise ``rate_limited``."""
        if est_tokens < 0:
            raise ValueError(f"est_tokens cannot be negative (got {est_tokens})")
        lease = Lease(self.store, lease_id, est_tokens)
        requests: list[tuple[str, int]] = []  # rpm windows taken, given back on refusal
        try:
            for rule in scope_rules:
                if rule.rpm is not None:
                    name = f"{rule.scope}:rpm"
                    wait = await self.store.window_take(name, rule.rpm, MINUTE, 1)
                    if wait is not None:
                        raise _refusal(rule.scope, "rpm", rule.rpm, wait)
                    requests.append((name, rule.rpm))
                if rule.tpm is not None:
                    name = f"{rule.scope}:tpm"
                    wait = await self.store.window_take(name, rule.tpm, MINUTE, est_tokens)
                    if wait is not None:
                        raise _refusal(rule.scope, "tpm", rule.tpm, wait)
                    lease.token_windows.append((name, rule.tpm))
                if rule.concurrency is not None:
                    name = f"{rule.scope}:concurrency"
                    if not await self.store.concurrency_take(name, rule.concurrency, lease_id,
                                                             self.lease_ttl_seconds):
                        raise _refusal(rule.scope, "concurrency", rule.concurrency, CONCURRENCY_RETRY_SECONDS)
                    lease.slots.append(name)
        except BaseException:
            await self._undo(lease, requests)
            raise
        return lease

    async def _undo(self, lease: Lease, requests: list[tuple[str, int]]) -> None:
        """Give back what a refused (or failed, or cancelled) acquire took; best effort."""
        try:
            for name, rpm in requests:
                await self.store.window_adjust(name, rpm, MINUTE, -1)
            for name, tpm in lease.token_windows:
                await self.store.window_adjust(name, tpm, MINUTE, -lease.est_tokens)
            for name in lease.slots:
                await self.store.concurrency_release(name, lease.lease_id)
        except Exception:
            # the counts it could not give back expire with their window or lease TTL
            log.warning("could not give back rate-limit counts of %s", lease.lease_id, exc_info=True)


_SCOPES = {"key": ("key", "密钥"), "group": ("group", "分组")}


def _refusal(scope: str, kind: str, limit: int, wait: float) -> GatewayError:
    seconds = max(1, math.ceil(wait))
    prefix, _, ident = scope.partition(":")
    en_kind, zh_kind = _SCOPES.get(prefix, (prefix, prefix))
    en_scope, zh_scope = (f"{en_kind} {ident}", f"{zh_kind} {ident}") if ident else (scope, scope)
    if kind == "rpm":
        en = f"Rate limit reached for {en_scope}: {limit:,} request{'s' if limit != 1 else ''} per minute."
        zh = f"已达到{zh_scope} 的速率限制：每分钟 {limit:,} 次请求。"
    elif kind == "tpm":
        en = f"Rate limit reached for {en_scope}: {limit:,} token{'s' if limit != 1 else ''} per minute."
        zh = f"已达到{zh_scope} 的速率限制：每分钟 {limit:,} 个 Token。"
    else:
        en = f"Concurrency limit reached for {en_scope}: {limit:,} request{'s' if limit != 1 else ''} at a time."
        zh = f"已达到{zh_scope} 的并发限制：最多同时处理 {limit:,} 个请求。"
    return GatewayError("rate_limited", headers={"Retry-After": str(seconds)},
                        detail=f"{en} Retry after {seconds} s.", detail_zh=f"{zh}请在 {seconds} 秒后重试。")
