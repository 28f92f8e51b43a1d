"""One API compatible balance endpoints: /v1/dashboard/billing/subscription and /usage.

Balance-check tools compute "remaining = hard_limit_usd - total_usage / 100", so, like One API,
both figures are all-time: the hard limit is everything credited (or the key's total cap when it
has one) and the usage is everything spent, in US cents.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from relaygate.app import Gateway
from relaygate.core.domain import KeyRecord
from relaygate.core.money import NANOS

PATHS = ("/v1/dashboard/billing/subscription", "/dashboard/billing/subscription",
         "/v1/dashboard/billing/usage", "/dashboard/billing/usage")


def _usd(gw: Gateway, nanos: int) -> float:
    return float(Decimal(nanos) / NANOS / Decimal(gw.settings.usd_rate or "1"))


async def figures(gw: Gateway, key: KeyRecord) -> tuple[int, int]:
    """(limit, spent) in nanos for the key: its total cap if it has one, else its owner's balance."""
    if key.cap_total is not None:
        state = await gw.counters.read(f"key:{key.id}:total")
        return key.cap_total, state.used
    state = await gw.counters.read(f"owner:{key.owner_id}")
    return state.cap or 0, state.used


async def answer(gw: Gateway, key: KeyRecord, path: str) -> dict[str, Any]:
    limit, spent = await figures(gw, key)
    if path.endswith("/subscription"):
        hard = _usd(gw, limit)
        return {"object": "billing_subscription", "has_payment_method": True, "soft_limit_usd": hard,
                "hard_limit_usd": hard, "system_hard_limit_usd": hard,
                "access_until": (key.expires_at or 0) // 1000}
    return {"object": "list", "total_usage": round(_usd(gw, spent) * 100, 6)}
