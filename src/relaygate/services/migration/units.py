"""Unit conversion: quota units to nanos and ratios to prices, in exact integers and fractions."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from relaygate.core.money import NANOS, PPM, TOKENS_PER_PRICE, Price, div_round, plain_amount


def fraction(value: Decimal | Fraction | int | str) -> Fraction:
    return value if isinstance(value, Fraction) else Fraction(value if not isinstance(value, str) else Decimal(value))


def round_fraction(value: Fraction) -> int:
    """The one rounding of the migration: half away from zero, through core.money.div_round."""
    return div_round(value.numerator, value.denominator)


@dataclass(frozen=True, slots=True)
class Units:
    """The source's QuotaPerUnit and the target's currency: everything a conversion needs."""

    quota_per_unit: Fraction
    usd_rate: Fraction  # target currency units per US dollar
    currency: str = "USD"

    def nanos(self, quota: int) -> int:
        """Quota units to nanos of the target currency, exactly: quota × 1e9 × usd_rate / QuotaPerUnit."""
        factor = Fraction(NANOS) * self.usd_rate / self.quota_per_unit
        return div_round(quota * factor.numerator, factor.denominator)

    def exact(self, quota: int) -> Fraction:
        return Fraction(quota) * NANOS * self.usd_rate / self.quota_per_unit

    def per_million(self, ratio: Fraction) -> int:
        """A model ratio to nanos per 1M tokens: ratio quota per token, 1M tokens, QuotaPerUnit per USD."""
        return round_fraction(ratio * TOKENS_PER_PRICE * NANOS * self.usd_rate / self.quota_per_unit)

    def usd_price(self, usd: Fraction) -> int:
        """A price in US dollars (New API ModelPrice) to nanos of the target currency."""
        return round_fraction(usd * NANOS * self.usd_rate)

    def amount_text(self, nanos: int) -> str:
        return plain_amount(nanos)


def oneapi_quota(prompt: int, completion: int, model_ratio: Fraction, completion_ratio: Fraction,
                 group_ratio: Fraction = Fraction(1)) -> int:
    """One API's charge for a text request: ceil((prompt + completion × cr) × mr × gr), at least 1."""
    if prompt + completion == 0:
        return 0
    exact = (prompt + completion * completion_ratio) * model_ratio * group_ratio
    quota = -((-exact.numerator) // exact.denominator)  # ceiling
    return max(quota, 1) if model_ratio != 0 else 0


def newapi_quota(prompt: int, completion: int, model_ratio: Fraction, completion_ratio: Fraction,
                 group_ratio: Fraction = Fraction(1), cached: int = 0, cache_ratio: Fraction | None = None) -> int:
    """New API's charge for a text request, rounded, at least 1 (service/text_quota.go)."""
    if prompt + completion == 0:
        return 0
    cached = min(cached, prompt) if cache_ratio is not None else 0
    exact = ((prompt - cached) + cached * (cache_ratio or 0) + completion * completion_ratio) * model_ratio \
        * group_ratio
    quota = round_fraction(exact)
    return max(quota, 1) if model_ratio != 0 and group_ratio != 0 else 0


def relaygate_cost(price: Price, prompt: int, completion: int, multiplier: Fraction = Fraction(1)) -> int:
    return price.token_cost(prompt, completion, multiplier_ppm=round_fraction(multiplier * PPM))
