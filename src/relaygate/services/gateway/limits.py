"""Per-key and per-group rate limits: requests and tokens per minute, requests at once.

A key's rules (its own and its group's) become a ``LimitPlan`` once per configuration: the rate
windows and concurrency slots every request of that key takes. ``Gate`` (services/gateway/gate.py)
takes them together with the request's money hold in one counter call, all or nothing; a refusal
becomes ``GatewayError('rate_limited')`` naming the limit, with a ``Retry-After`` header. When the
answer is complete the slots are freed and the token windows corrected from the estimate to the
real count, again in one call.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from relaygate.core.errors import GatewayError
from relaygate.store.counters import Slot, Window

MINUTE = 60.0
LEASE_TTL_SECONDS = 900.0  # a concurrency slot a crashed worker never gave back frees itself after this
CONCURRENCY_RETRY_SECONDS = 1  # a slot frees when some request ends; there is no schedule to predict


@dataclass(frozen=True, slots=True)
class LimitRule:
    """The limits of one scope, ``key:<id>`` or ``group:<name>``; None means no limit of that kind."""

    scope: str
    rpm: int | None = None
    tpm: int | None = None
    concurrency: int | None = None


@dataclass(frozen=True, slots=True)
class LimitPlan:
    """What every request under some rules takes: request windows (rpm), then token windows (tpm),
    then concurrency slots. ``window_rules`` follows the windows' order, ``slot_rules`` the slots'."""

    request_windows: tuple[Window, ...]  # (name, limit, MINUTE, 1): the same for every request
    token_windows: tuple[tuple[str, int], ...]  # (name, limit): the request's tokens are counted
    slots: tuple[Slot, ...]
    window_rules: tuple[tuple[str, str, int], ...]  # per window: (scope, 'rpm' | 'tpm', limit)
    slot_rules: tuple[tuple[str, int], ...]  # per slot: (scope, limit)
    slot_names: tuple[str, ...] = ()

    @classmethod
    def of(cls, rules: Sequence[LimitRule]) -> LimitPlan:
        requests: list[Window] = []
        tokens, slots, request_rules, token_rules, slot_rules = [], [], [], [], []
        for rule in rules:
            if rule.rpm is not None:
                requests.append((f"{rule.scope}:rpm", rule.rpm, MINUTE, 1))
                request_rules.append((rule.scope, "rpm", rule.rpm))
            if rule.tpm is not None:
                tokens.append((f"{rule.scope}:tpm", rule.tpm))
                token_rules.append((rule.scope, "tpm", rule.tpm))
            if rule.concurrency is not None:
                slots.append((f"{rule.scope}:concurrency", rule.concurrency))
                slot_rules.append((rule.scope, rule.concurrency))
        return cls(tuple(requests), tuple(tokens), tuple(slots), (*request_rules, *token_rules), tuple(slot_rules),
                   tuple(name for name, _ in slots))

    @property
    def empty(self) -> bool:
        return not (self.request_windows or self.token_windows or self.slots)

    def takes(self, est_tokens: int) -> Sequence[Window]:
        """The windows one request takes: one request under each rpm, ``est_tokens`` under each tpm."""
        if not self.token_windows:
            return self.request_windows
        out = list(self.request_windows)  # a loop, not a comprehension: 3.11 builds a function for one
        for name, limit in self.token_windows:
            out.append((name, limit, MINUTE, est_tokens))
        return out

    def corrections(self, delta_tokens: int) -> Sequence[Window]:
        """Token windows moved from the estimate to the real count (nothing when they agree)."""
        if not delta_tokens or not self.token_windows:
            return ()
        out = []
        for name, limit in self.token_windows:
            out.append((name, limit, MINUTE, delta_tokens))
        return out

    def window_refusal(self, index: int, wait: float) -> GatewayError:
        scope, kind, limit = self.window_rules[index]
        return refusal(scope, kind, limit, wait)

    def slot_refusal(self, index: int) -> GatewayError:
        scope, limit = self.slot_rules[index]
        return refusal(scope, "concurrency", limit, CONCURRENCY_RETRY_SECONDS)


NO_LIMITS = LimitPlan((), (), (), (), ())


_SCOPES = {"key": ("key", "密钥"), "group": ("group", "分组")}


def refusal(scope: str, kind: str, limit: int, wait: float) -> GatewayError:
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
