"""Money: integers of 1e-9 currency unit ("nanos"), never floats; every rounding happens here.

Prices are stored per 1M tokens in nanos, so a price of $0.15 per 1M tokens is 150_000_000 and one
token costs 0.15 nanos: costs are summed over all token classes first and rounded once (half up),
so a request is never charged more than half a nano away from the exact price.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

NANOS = 1_000_000_000  # nanos per currency unit
PPM = 1_000_000  # multipliers are parts per million: 1.0 = 1_000_000
TOKENS_PER_PRICE = 1_000_000  # prices are per 1M tokens
SYMBOLS = {"USD": "$", "CNY": "¥"}


class MoneyError(ValueError):
    pass


def parse_amount(text: str | int | Decimal) -> int:
    """'12.5' -> 12_500_000_000 nanos, exactly (Decimal, not float). At most 9 decimals."""
    try:
        value = Decimal(str(text).strip().replace(",", "").lstrip("$¥"))
    except InvalidOperation as exc:
        raise MoneyError(f"'{text}' is not an amount") from exc
    nanos = value * NANOS
    if nanos != nanos.to_integral_value():
        raise MoneyError(f"'{text}' has more than 9 decimals")
    return int(nanos)


def parse_multiplier(text: str | float | Decimal) -> int:
    """'0.8' -> 800_000 parts per million (exact for up to 6 decimals)."""
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation as exc:
        raise MoneyError(f"'{text}' is not a multiplier") from exc
    if value < 0:
        raise MoneyError("a multiplier cannot be negative")
    return int((value * PPM).to_integral_value(ROUND_HALF_UP))


def div_round(numerator: int, denominator: int) -> int:
    """Integer division rounding half away from zero; the only rounding rule for money."""
    if denominator <= 0:
        raise MoneyError("denominator must be positive")
    q, r = divmod(abs(numerator), denominator)
    if 2 * r >= denominator:
        q += 1
    return q if numerator >= 0 else -q


@dataclass(frozen=True, slots=True)
class Price:
    """A model's price: per 1M tokens (input, cached input, output) or a fixed price per request."""

    input_per_m: int = 0
    output_per_m: int = 0
    cached_input_per_m: int | None = None  # None: same as input
    per_request: int | None = None
    free: bool = False

    def token_cost(self, prompt: int, completion: int, cached: int = 0, multiplier_ppm: int = PPM) -> int:
        return Rate.of(self, multiplier_ppm).cost(prompt, completion, cached)


_SCALE = TOKENS_PER_PRICE * PPM  # a Rate's per-token figures are in nanos / _SCALE


class Rate:
    """A price with a group's multiplier applied, ready to cost a request in a few integer operations.

    The per-token figures are exact integers (price per 1M tokens times the multiplier in ppm), so
    a cost is the exact amount rounded once, half up: the same result as ``Price.token_cost``,
    which is computed through this class. Built once per key and model (services/gateway/billing.py).
    """

    __slots__ = ("cached_input", "fixed", "input", "output")

    def __init__(self, input_: int, cached_input: int, output: int, fixed: int | None) -> None:
        self.input, self.cached_input, self.output, self.fixed = input_, cached_input, output, fixed

    @classmethod
    def of(cls, price: Price, multiplier_ppm: int = PPM) -> Rate:
        if price.free:
            return cls(0, 0, 0, 0)
        if price.per_request is not None:
            return cls(0, 0, 0, div_round(price.per_request * multiplier_ppm, PPM))
        cached = price.input_per_m if price.cached_input_per_m is None else price.cached_input_per_m
        return cls(price.input_per_m * multiplier_ppm, cached * multiplier_ppm, price.output_per_m * multiplier_ppm,
                   None)

    def cost(self, prompt: int, completion: int, cached: int = 0) -> int:
        """What ``prompt`` input tokens (``cached`` of them from the cache) and ``completion`` cost."""
        if self.fixed is not None:
            return self.fixed
        if cached > prompt:
            cached = prompt
        if cached < 0:
            cached = 0
        raw = (prompt - cached) * self.input + cached * self.cached_input + completion * self.output
        if raw >= 0:  # half up, as div_round does for non-negative amounts, without its call
            return (raw + _SCALE // 2) // _SCALE
        return div_round(raw, _SCALE)


def to_decimal(nanos: int) -> Decimal:
    return Decimal(nanos) / NANOS


def format_amount(nanos: int, currency: str = "USD", places: int = 6) -> str:
    """$12.50, $0.000150, -¥3.20: at least 2 decimals, at most ``places``, no float on the way."""
    value = to_decimal(abs(nanos)).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)
    text = f"{value:f}"
    if "." in text:
        whole, frac = text.split(".")
        frac = frac.rstrip("0").ljust(2, "0")
        text = f"{whole}.{frac}"
    sign = "-" if nanos < 0 else ""
    return f"{sign}{SYMBOLS.get(currency, '')}{text}" + ("" if currency in SYMBOLS else f" {currency}")


def plain_amount(nanos: int) -> str:
    """Exact decimal string of an amount, for JSON and CSV (e.g. '0.000150000')."""
    return f"{to_decimal(nanos):f}"


def unit_cost(per_unit: int, units: int, per: int = 1, multiplier_ppm: int = PPM) -> int:
    """What ``units`` cost at ``per_unit`` nanos for every ``per`` of them, with a group multiplier.

    Media prices are per unit (an image, a second of audio or video, a call) or per ``per`` units
    (1M characters of speech input): the exact amount is rounded once, half up, like token costs.
    """
    if units < 0 or per <= 0:
        raise MoneyError(f"units must be >= 0 and per > 0 (got {units}, {per})")
    return div_round(per_unit * units * multiplier_ppm, per * PPM)
