"""Property tests: price arithmetic is exact to half a nano; money strings round-trip without floats."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relaygate.core.money import (
    NANOS,
    PPM,
    MoneyError,
    Price,
    Rate,
    div_round,
    format_amount,
    parse_amount,
    parse_multiplier,
    plain_amount,
)

tokens = st.integers(min_value=0, max_value=2_000_000)
price_nanos = st.integers(min_value=0, max_value=200 * NANOS)  # up to 200 per 1M tokens
multipliers = st.integers(min_value=0, max_value=5 * PPM)


@given(st.integers(min_value=-10**15, max_value=10**15), st.integers(min_value=1, max_value=10**12))
def test_div_round_is_round_half_away_from_zero(n: int, d: int) -> None:
    exact = Fraction(n, d)
    got = div_round(n, d)
    assert abs(Fraction(got) - exact) <= Fraction(1, 2)
    if abs(Fraction(got) - exact) == Fraction(1, 2):
        assert abs(got) > abs(exact)


@settings(max_examples=300)
@given(tokens, tokens, tokens, price_nanos, price_nanos, price_nanos, multipliers)
def test_token_cost_is_the_exact_price_rounded_once(prompt: int, completion: int, cached: int, pin: int,
                                                    pout: int, pcache: int, mult: int) -> None:
    price = Price(pin, pout, pcache)
    cached = min(cached, prompt)
    exact = (Fraction((prompt - cached) * pin + cached * pcache + completion * pout, 10**6) * Fraction(mult, PPM))
    cost = price.token_cost(prompt, completion, cached, mult)
    assert abs(Fraction(cost) - exact) <= Fraction(1, 2)
    if abs(Fraction(cost) - exact) == Fraction(1, 2):
        assert cost > exact  # a tie rounds up
    assert Rate.of(price, mult).cost(prompt, completion, cached) == cost


def test_a_half_nano_rounds_up_and_cached_tokens_are_clamped() -> None:
    rate = Rate.of(Price(500_000, 0), PPM)  # half a nano per input token
    assert [rate.cost(n, 0) for n in (1, 2, 3)] == [1, 1, 2]
    cached = Rate.of(Price(2_000_000, 0, 0), PPM)
    assert cached.cost(10, 0, cached=15) == 0 and cached.cost(10, 0, cached=-3) == 20


@given(tokens, tokens, tokens, price_nanos, price_nanos)
def test_cost_is_monotonic_and_nearly_additive(a: int, b: int, c: int, pin: int, pout: int) -> None:
    price = Price(pin, pout)
    assert price.token_cost(a + b, c) >= price.token_cost(a, c)
    assert price.token_cost(a, b + c) >= price.token_cost(a, b)
    split = price.token_cost(a, 0) + price.token_cost(0, b)
    assert abs(price.token_cost(a, b) - split) <= 1


@given(st.integers(min_value=0, max_value=10**9), tokens, tokens)
def test_free_and_per_request(per_request: int, prompt: int, completion: int) -> None:
    assert Price(10, 10, free=True).token_cost(prompt, completion) == 0
    assert Price(per_request=per_request).token_cost(prompt, completion) == per_request
    assert Price(per_request=per_request).token_cost(prompt, completion, 0, PPM // 2) == div_round(per_request, 2)


@given(st.decimals(min_value=Decimal("-1e9"), max_value=Decimal("1e9"), places=9, allow_nan=False))
def test_amount_strings_round_trip(value: Decimal) -> None:
    nanos = parse_amount(str(value))
    assert Decimal(plain_amount(nanos)) == value
    assert parse_amount(plain_amount(nanos)) == nanos


def test_parse_and_format_examples() -> None:
    assert parse_amount("12.5") == 12_500_000_000 and parse_amount("$0.000150") == 150_000
    assert format_amount(12_500_000_000) == "$12.50" and format_amount(150_000) == "$0.00015"
    assert format_amount(-3_200_000_000, "CNY") == "-¥3.20"
    assert parse_multiplier("0.8") == 800_000
    with pytest.raises(MoneyError):
        parse_amount("0.0000000001")
    with pytest.raises(MoneyError):
        parse_amount("ten")
