"""The source's prices (ratios, completion ratios, per-call prices) resolved per model, as relaygate prices."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from relaygate.core.money import Price, plain_amount
from relaygate.services.migration import defaults as d
from relaygate.services.migration.parse import flag, ratio_map
from relaygate.services.migration.units import Units, newapi_quota, oneapi_quota, relaygate_cost

EXAMPLE = (1000, 500)  # the request the report prices both ways: 1,000 prompt and 500 completion tokens


def _fractions(values: dict[str, Decimal]) -> dict[str, Fraction]:
    return {k: Fraction(v) for k, v in values.items()}


def show_ratio(value: Fraction | None) -> str | None:
    """A ratio for people: exact decimal when it has one, else 12 significant digits."""
    if value is None:
        return None
    dec = Decimal(value.numerator) / Decimal(value.denominator)
    exact = Fraction(dec) == value
    text = f"{(dec if exact else round(dec, 12)).normalize():f}"
    return text if exact else f"{text}…"


@dataclass
class Ratios:
    """ModelRatio, CompletionRatio, GroupRatio, ModelPrice and CacheRatio as the source used them."""

    kind: str
    model: dict[str, Fraction]
    completion: dict[str, Fraction]
    group: dict[str, Fraction]
    price: dict[str, Fraction]  # New API ModelPrice, USD per call
    cache: dict[str, Fraction]
    quota_per_unit: Fraction
    self_use: bool
    problems: list[str] = field(default_factory=list)

    @classmethod
    def from_options(cls, kind: str, options: dict[str, str]) -> Ratios:
        problems: list[str] = []

        def read(name: str, fallback: dict[str, Fraction]) -> dict[str, Fraction]:
            if name not in options:
                return dict(fallback)
            values, problem = ratio_map(options[name])
            if problem:
                problems.append(f"option {name}: {problem}")
            if problem and problem.startswith("invalid"):
                return dict(fallback) if kind == "newapi" else {}
            return _fractions(values)

        oa = kind == "oneapi"
        model = read("ModelRatio", {} if oa else d.NEWAPI_MODEL_RATIO)
        completion = read("CompletionRatio", {})
        group = read("GroupRatio", d.DEFAULT_GROUP_RATIO)
        price = {} if oa else read("ModelPrice", d.NEWAPI_MODEL_PRICE)
        cache = {} if oa else read("CacheRatio", {})
        qpu = d.QUOTA_PER_UNIT
        if options.get("QuotaPerUnit", "").strip():
            try:
                qpu = Fraction(Decimal(options["QuotaPerUnit"].strip()))
            except ArithmeticError:
                problems.append(f"option QuotaPerUnit '{options['QuotaPerUnit']}' is not a number; using 500000")
            if qpu <= 0:
                problems.append("option QuotaPerUnit is not positive; using 500000")
                qpu = d.QUOTA_PER_UNIT
        return cls(kind, model, completion, group, price, cache, qpu, flag(options.get("SelfUseModeEnabled")),
                   problems)

    def group_ratio(self, group: str) -> Fraction:
        return self.group.get(group, Fraction(1))

    def typed_keys(self) -> list[str]:
        """One API keys of the form model(channel type)."""
        return sorted(k for k in self.model if k.endswith(")") and "(" in k)


@dataclass
class Proposal:
    """The relaygate price of one public model and how it was derived from the source."""

    model: str
    basis: str  # ratio | per_request | free | implicit | unpriced
    billed_as: str  # the name the source looked the price up by
    key: str = ""  # the ratio key that matched, e.g. 'gpt-4o(3)' or 'gpt-4o (built-in default)'
    model_ratio: Fraction | None = None
    completion_ratio: Fraction | None = None
    cache_ratio: Fraction | None = None
    per_call_usd: Fraction | None = None
    price: Price | None = None
    notes: list[str] = field(default_factory=list)

    def old_quota(self, kind: str, prompt: int, completion: int, group_ratio: Fraction = Fraction(1),
                  quota_per_unit: Fraction = d.QUOTA_PER_UNIT) -> int | None:
        """What the source charged, in quota units, for a request of this size."""
        if self.basis == "per_request" and self.per_call_usd is not None:
            return int(self.per_call_usd * quota_per_unit * group_ratio)
        if self.model_ratio is None or self.completion_ratio is None:
            return None
        if kind == "oneapi":
            return oneapi_quota(prompt, completion, self.model_ratio, self.completion_ratio, group_ratio)
        return newapi_quota(prompt, completion, self.model_ratio, self.completion_ratio, group_ratio)

    def new_nanos(self, prompt: int, completion: int, group_ratio: Fraction = Fraction(1)) -> int | None:
        return None if self.price is None else relaygate_cost(self.price, prompt, completion, group_ratio)

    def plan_entry(self) -> dict[str, Any]:
        price = self.price
        entry: dict[str, Any] = {"basis": self.basis, "billed_as": self.billed_as}
        if self.key:
            entry["source_key"] = self.key
        for name, value in (("model_ratio", self.model_ratio), ("completion_ratio", self.completion_ratio),
                            ("cache_ratio", self.cache_ratio), ("per_call_usd", self.per_call_usd)):
            if value is not None:
                entry[name] = show_ratio(value)
        if price is not None:
            if price.free:
                entry["free"] = True
            elif price.per_request is not None:
                entry["per_request"] = plain_amount(price.per_request)
            else:
                entry["input_per_m"] = plain_amount(price.input_per_m)
                entry["output_per_m"] = plain_amount(price.output_per_m)
                if price.cached_input_per_m is not None:
                    entry["cached_input_per_m"] = plain_amount(price.cached_input_per_m)
        return entry


def _lookup(table: dict[str, Fraction], fallback: dict[str, Fraction], names: list[str]) -> tuple[
        Fraction | None, str]:
    for name in names:
        if name in table:
            return table[name], name
        if name in fallback:
            return fallback[name], f"{name} (built-in default)"
    return None, ""


def propose(ratios: Ratios, units: Units, public: str, upstream: str, channel_type: int) -> Proposal:
    """The price of ``public`` served as ``upstream`` on a channel of ``channel_type``.

    One API bills by the upstream (mapped) name and looks up ``name(type)`` first; New API bills by the
    requested name and prefers a per-call ModelPrice.
    """
    if ratios.kind == "oneapi":
        names = [f"{upstream}({channel_type})", upstream]
        mr, key = _lookup(ratios.model, d.ONEAPI_MODEL_RATIO, names)
        prop = Proposal(public, "ratio", upstream, key)
        if mr is None:
            mr, prop.basis, prop.key = d.OA_UNKNOWN_MODEL_RATIO, "implicit", "none"
            prop.notes.append(f"no ratio for '{upstream}' in One API: it billed the implicit ratio 30 "
                              "($60 per 1M input tokens); kept so costs do not change, review it")
        cr, _ = _lookup(ratios.completion, d.ONEAPI_COMPLETION_RATIO, names)
        prop.model_ratio, prop.completion_ratio = mr, cr if cr is not None else d.oneapi_completion_rule(upstream)
    else:
        prop = Proposal(public, "ratio", public)
        if public in ratios.price:
            prop.basis, prop.key, prop.per_call_usd = "per_request", public, ratios.price[public]
            prop.price = Price(per_request=units.usd_price(ratios.price[public]))
            if ratios.price[public] == 0:
                prop.basis, prop.price = "free", Price(free=True)
            return prop
        mr = ratios.model.get(public)
        prop.key = public
        if mr is None:
            if not ratios.self_use:
                prop.basis, prop.key = "unpriced", ""
                prop.notes.append(f"New API had no price or ratio for '{public}' and refused it "
                                  "(model_price_error); relaygate will refuse it too until you set a price")
                return prop
            mr, prop.basis = d.NA_SELF_USE_RATIO, "implicit"
            prop.notes.append("SelfUseModeEnabled let New API bill this unpriced model at ratio 37.5")
        hard, locked = d.newapi_completion_rule(public)
        prop.model_ratio = mr
        prop.completion_ratio = hard if locked else ratios.completion.get(public, hard)
        if locked and public in ratios.completion and ratios.completion[public] != hard:
            prop.notes.append(f"New API ignored the admin's completion ratio for '{public}' "
                              f"({show_ratio(ratios.completion[public])}) and used its locked {show_ratio(hard)}")
        prop.cache_ratio = ratios.cache.get(public)
    assert prop.model_ratio is not None and prop.completion_ratio is not None
    if prop.model_ratio == 0:
        prop.basis, prop.price = "free", Price(free=True)
        return prop
    input_nanos = units.per_million(prop.model_ratio)
    prop.price = Price(input_per_m=input_nanos,
                       output_per_m=units.per_million(prop.model_ratio * prop.completion_ratio),
                       cached_input_per_m=None if prop.cache_ratio is None
                       else units.per_million(prop.model_ratio * prop.cache_ratio))
    return prop


def price_from_plan(entry: dict[str, Any]) -> Price | None:
    """The Price a (possibly hand-edited) plan entry asks for; None when it has none."""
    from relaygate.core.money import parse_amount

    if not isinstance(entry, dict):
        return None
    if entry.get("free"):
        return Price(free=True)
    if entry.get("per_request") not in (None, ""):
        return Price(per_request=parse_amount(str(entry["per_request"])))
    if entry.get("input_per_m") in (None, "") and entry.get("output_per_m") in (None, ""):
        return None
    cached = entry.get("cached_input_per_m")
    return Price(input_per_m=parse_amount(str(entry.get("input_per_m") or "0")),
                 output_per_m=parse_amount(str(entry.get("output_per_m") or "0")),
                 cached_input_per_m=None if cached in (None, "") else parse_amount(str(cached)))
