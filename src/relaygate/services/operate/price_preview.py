"""What a sample request would cost under a price before it is saved, per group multiplier (core/money's one
cost model, the same the gateway settles with)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from relaygate.core.money import PPM, Price, format_amount
from relaygate.services.operate.pricing import _amount


def sample_costs(currency: str, groups: list[dict[str, Any]], *, input_per_m: str | None, output_per_m: str | None,
                 per_request: str | None, free: bool, prompt: int = 1000, completion: int = 500) -> dict[str, Any]:
    price = Price(_amount(input_per_m, "input price") or 0, _amount(output_per_m, "output price") or 0,
                  None, _amount(per_request, "per-request price"), free)
    rows = []
    for g in groups or [{"name": "default", "multiplier": "1"}]:
        ppm = int(Decimal(str(g.get("multiplier") or "1")) * PPM)
        rows.append({"group": g["name"], "multiplier": g.get("multiplier") or "1",
                     "cost": format_amount(price.token_cost(prompt, completion, 0, ppm), currency)})
    return {"prompt": prompt, "completion": completion, "rows": rows}
