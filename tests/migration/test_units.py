"""Unit conversion: quota to nanos exactly, and ratios to prices that cost what the source charged."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from relaygate.core.money import NANOS, Price
from relaygate.services.migration.pricing import Ratios, propose
from relaygate.services.migration.units import Units, oneapi_quota

USD = Units(Fraction(500_000), Fraction(1))


def test_quota_to_nanos_is_exact() -> None:
    assert USD.nanos(500_000) == NANOS and USD.nanos(1) == 2000 and USD.nanos(-250_001) == -500_002_000
    cny = Units(Fraction(500_000), Fraction(Decimal("7.2")), "CNY")
    assert cny.nanos(500_000) == 7_200_000_000 and cny.nanos(7) == 100_800
    odd = Units(Fraction(300_000), Fraction(1))  # a QuotaPerUnit that does not divide 10^9
    assert odd.nanos(1) == 3333 and odd.nanos(2) == 6667 and odd.nanos(-2) == -6667  # half away from zero
    assert USD.nanos(500_000_000_000_000) == 10**18  # One API's root quota: exact, no float


@settings(max_examples=300, deadline=None)
@given(st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("100"), places=4),
       st.decimals(min_value=Decimal("0"), max_value=Decimal("20"), places=3),
       st.integers(min_value=1, max_value=200_000), st.integers(min_value=0, max_value=50_000))
def test_oneapi_prices_cost_what_one_api_charged(ratio: Decimal, completion: Decimal, prompt: int, out: int) -> None:
    """One API rounds each request up to a whole quota unit; relaygate is exact: never more, less than 1 unit."""
    options = {"ModelRatio": f'{{"m": {ratio}}}', "CompletionRatio": f'{{"m": {completion}}}'}
    ratios = Ratios.from_options("oneapi", options)
    prop = propose(ratios, USD, "m", "m", 1)
    assert isinstance(prop.price, Price)
    old = USD.nanos(oneapi_quota(prompt, out, Fraction(ratio), Fraction(completion)))
    new = prop.price.token_cost(prompt, out)
    assert 0 <= old - new < USD.nanos(1) + 1


def test_newapi_per_call_price_and_typed_keys() -> None:
    ratios = Ratios.from_options("newapi", {"ModelPrice": '{"img": 0.04}', "ModelRatio": '{"chat(3)": 9}'})
    assert propose(ratios, USD, "img", "img", 1).price == Price(per_request=40_000_000)
    assert propose(ratios, USD, "chat", "chat", 3).basis == "unpriced"  # New API never read chat(3)
    oa = Ratios.from_options("oneapi", {"ModelRatio": '{"chat": 1, "chat(3)": 9}'})
    assert propose(oa, USD, "chat", "chat", 3).model_ratio == 9 and propose(oa, USD, "chat", "chat", 1).model_ratio == 1
