"""Rate limits against abuse of the portal's open doors: sign-in, sign-up, password reset and redeeming.

Windows live in the gateway's counter store, so several workers (Redis) share them. Each rule is
(most events, per seconds); the address (``ip``) and, for resets, the account asked about are counted
apart, so one address cannot flood one mailbox and many addresses cannot flood it either. Names are
hashed before they become counter keys (no e-mail address in Redis).

| rule | counts | bound |
|---|---|---|
| signin | sign-in attempts per address | 30 per 5 minutes |
| signup | sign-ups per address | 5 per hour |
| reset | reset requests per address | 5 per 15 minutes |
| reset_target | reset e-mails per username or address asked about | 3 per hour |
| redeem | failed redemptions per address and per owner | 10 per 15 minutes |
"""

from __future__ import annotations

from relaygate.core.keys import hash_secret
from relaygate.store.counters import CounterStore

RULES: dict[str, tuple[int, float]] = {
    "signin": (30, 300.0),
    "signup": (5, 3600.0),
    "reset": (5, 900.0),
    "reset_target": (3, 3600.0),
    "redeem": (10, 900.0),
}


class AbuseGuard:
    def __init__(self, counters: CounterStore) -> None:
        self.counters = counters

    @staticmethod
    def _name(rule: str, who: str) -> str:
        return f"abuse:{rule}:{hash_secret(who)[:20]}"

    async def take(self, rule: str, who: str) -> float | None:
        """Count one event; seconds to wait when the rule's bound is reached (nothing counted then)."""
        limit, window = RULES[rule]
        return await self.counters.window_take(self._name(rule, who), limit, window, 1)

    async def blocked(self, rule: str, who: str) -> float | None:
        """Whether the bound is reached, counting nothing (for rules that count failures only)."""
        limit, window = RULES[rule]
        return await self.counters.window_take(self._name(rule, who), limit - 1, window, 0)

    async def failed(self, rule: str, who: str) -> None:
        limit, window = RULES[rule]
        await self.counters.window_adjust(self._name(rule, who), limit, window, 1)
