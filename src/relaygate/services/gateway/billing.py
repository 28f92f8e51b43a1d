"""Per-request money: quote the most a request can cost, hold it, settle to the actual cost or release.

Balances and key caps live in a CounterStore (memory for one process, Redis for several) as
buckets ``cap - used - held``: an owner's bucket has cap = everything credited (top-ups,
adjustments, imports...) and used = everything settled; a key's cap buckets have the cap the
operator set. A hold reserves on every bucket at once, atomically, so concurrent requests can
never together hold more than is available. ``Gate`` (services/gateway/gate.py) makes the counter
calls, together with the rate limits' in one call each way; this module prices, explains a
refusal and keeps the ledger.

Ledger entries are buffered and written with the usage records. A hold only becomes a ledger row
if it is still in flight when the writer flushes (long streams); a request that finishes first
writes one ``settle`` row. Zero-cost requests write nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from relaygate.core.clock import now_ms
from relaygate.core.domain import KeyRecord
from relaygate.core.errors import GatewayError
from relaygate.core.money import PPM, Price, Rate, format_amount, parse_amount
from relaygate.core.settings import Settings
from relaygate.protocols.openai import RequestFacts
from relaygate.services.gateway.catalog import Snapshot
from relaygate.store.counters import Bucket


def owner_bucket(owner_id: str) -> Bucket:
    return Bucket(f"owner:{owner_id}", None, None, stored=True)


def key_buckets(key: KeyRecord, now: int | None = None) -> list[Bucket]:
    """The cap buckets of a key (none when it has no caps): total, today (UTC), this month (UTC)."""
    out = []
    if key.cap_total is not None:
        out.append(Bucket(f"key:{key.id}:total", key.cap_total, None, stored=False))
    if key.cap_daily is not None or key.cap_monthly is not None:
        day = datetime.fromtimestamp((now or now_ms()) / 1000, tz=UTC)
        if key.cap_daily is not None:
            out.append(Bucket(f"key:{key.id}:d:{day:%Y%m%d}", key.cap_daily, 2 * 86400, stored=False))
        if key.cap_monthly is not None:
            out.append(Bucket(f"key:{key.id}:m:{day:%Y%m}", key.cap_monthly, 32 * 86400, stored=False))
    return out


@dataclass(frozen=True, slots=True)
class Tariff:
    """What one key pays for one model under one configuration snapshot, worked out on its first request."""

    owner_id: str
    key_id: str
    model: str
    rate: Rate
    max_output: int  # completion tokens held when the caller sends no max_tokens
    buckets: tuple[Bucket, ...]  # the owner's balance, then the key's total cap (none if period caps)
    bucket_names: tuple[str, ...]
    period_caps: bool


@dataclass(slots=True)  # not frozen: a frozen dataclass is slow to build, and one is built per request
class Charge:
    """One request's money: what it may cost (held) and, once known, what it did cost."""

    request_id: str
    tariff: Tariff
    hold: int
    buckets: tuple[Bucket, ...]
    bucket_names: tuple[str, ...]
    created_ms: int
    persisted: bool = False  # a 'hold' ledger row was written for it
    done: bool = False
    entries: list[dict[str, Any]] | None = None  # the ledger entries its end wrote (journalled with its record)


class Billing:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.currency = settings.currency
        self.refuse_unpriced = settings.unpriced_models != "default"
        self.default_price = Price(parse_amount(settings.default_input_price),
                                   parse_amount(settings.default_output_price))
        self.in_flight: dict[str, Charge] = {}
        self.entries: list[dict[str, Any]] = []  # ledger rows waiting for the writer
        self._tariffs: dict[tuple[str, str], Tariff | None] = {}  # (key id, model) -> tariff, None: free
        self._tariffs_of: Snapshot | None = None
        self.instance: str | None = None  # this process, named on its hold rows (services/gateway/recovery.py)

    # --- quote and hold -----------------------------------------------------------------------

    def tariff(self, snap: Snapshot, key: KeyRecord, model: str) -> Tariff | None:
        """The key's tariff for ``model`` (None: it costs nothing), kept until the configuration changes."""
        if snap is not self._tariffs_of:
            self._tariffs, self._tariffs_of = {}, snap
        try:
            return self._tariffs[key.id, model]
        except KeyError:
            pass
        row = snap.prices.get(model)
        if row is None:
            if self.refuse_unpriced:
                raise GatewayError("model_price_missing", model=model)
            price, max_out = self.default_price, None
        else:
            price, max_out = row.price, row.max_output_tokens
        tariff = None
        if not (price.free or (price.per_request is None and not price.input_per_m and not price.output_per_m)):
            group = snap.groups.get(key.group)
            rate = Rate.of(price, group.multiplier_ppm if group is not None else PPM)
            period = key.cap_daily is not None or key.cap_monthly is not None
            # period caps' bucket names carry the date: quote() builds the key's buckets per request then
            buckets = (owner_bucket(key.owner_id),) if period else (owner_bucket(key.owner_id), *key_buckets(key))
            tariff = Tariff(key.owner_id, key.id, model, rate, max_out or self.settings.default_max_output_tokens,
                            buckets, tuple(b.name for b in buckets), period)
        self._tariffs[key.id, model] = tariff
        return tariff

    def quote(self, snap: Snapshot, key: KeyRecord, model: str, facts: RequestFacts, request_id: str,
              operation: str) -> Charge | None:
        """The charge for this request, or None when it cannot cost anything."""
        tariff = self.tariff(snap, key, model)
        if tariff is None:
            return None
        completion = 0 if operation == "embeddings" else (facts.max_tokens or tariff.max_output)
        # prompt held at twice the estimate (plus per-message overhead): tokenizers rarely exceed it
        hold = tariff.rate.cost(2 * facts.prompt_estimate + 16, completion)
        if not tariff.period_caps:
            return Charge(request_id, tariff, hold, tariff.buckets, tariff.bucket_names, now_ms())
        now = now_ms()  # today's and this month's cap buckets
        buckets = (tariff.buckets[0], *key_buckets(key, now))
        return Charge(request_id, tariff, hold, buckets, tuple(b.name for b in buckets), now)

    def admitted(self, charge: Charge) -> None:
        """The counters hold the charge's amount now (services/gateway/gate.py took it)."""
        self.in_flight[charge.request_id] = charge

    def insufficient(self, charge: Charge, index: int, available: int) -> GatewayError:
        """The 402 for a hold that ``charge.buckets[index]`` could not cover."""
        bucket = charge.buckets[index].name
        key_id = charge.tariff.key_id
        cur = self.currency
        need, have = format_amount(charge.hold, cur), format_amount(available, cur)  # negative: say so
        if bucket.startswith("owner:"):
            en = (f"Insufficient balance: the owner of key {key_id} has {have} available, and this "
                  f"request needs up to {need} held until the answer arrives (the actual charge is usually "
                  "lower). Top up the owner's balance, lower max_tokens, or use a cheaper model.")
            zh = (f"余额不足：密钥 {key_id} 的负责人可用余额为 {have}，本次请求在返回前需要预留最多 "
                  f"{need}（实际扣费通常更低）。请为负责人充值、降低 max_tokens，或改用更便宜的模型。")
        else:
            period = {"total": ("total", "总"), "d": ("daily", "每日"), "m": ("monthly", "每月")}[
                bucket.split(":")[2]]
            cap = next((b.cap for b in charge.buckets if b.name == bucket), None) or 0
            en = (f"API key {key_id} has reached its {period[0]} spend cap of {format_amount(cap, cur)}: "
                  f"{have} left, and this request needs up to {need}. "
                  + ("It resets at 00:00 UTC. " if period[0] == "daily" else
                     "It resets on the 1st (UTC). " if period[0] == "monthly" else "")
                  + "Ask your administrator to raise the cap, or lower max_tokens.")
            zh = (f"API Key {key_id} 已达到{period[1]}消费上限 {format_amount(cap, cur)}：剩余 {have}，"
                  f"本次请求需要最多 {need}。" + ("每日 00:00（UTC）重置。" if period[0] == "daily" else
                                                 "每月 1 日（UTC）重置。" if period[0] == "monthly" else "")
                  + "请联系管理员提高上限，或降低 max_tokens。")
        return GatewayError("insufficient_balance", detail=en, detail_zh=zh,
                            bucket="owner" if bucket.startswith("owner:") else "key")

    # --- settle and release -------------------------------------------------------------------

    def settled(self, charge: Charge, cost: int) -> bool:
        """Record the actual cost in the ledger (the counters are settled by the caller). Once per request."""
        if charge.done:
            return False
        charge.done = True
        self.in_flight.pop(charge.request_id, None)
        now = now_ms()
        out = []
        if charge.persisted:
            out.append(self._entry(charge, "release", 0, -charge.hold, now))
        if cost or charge.persisted:
            out.append(self._entry(charge, "settle", -cost, 0, now))
        if out:
            self.entries.extend(out)
            charge.entries = out
        return True

    def released(self, charge: Charge) -> bool:
        """Nothing was delivered: no charge; a hold the ledger already shows is released there too."""
        if charge.done:
            return False
        charge.done = True
        self.in_flight.pop(charge.request_id, None)
        if charge.persisted:
            entry = self._entry(charge, "release", 0, -charge.hold, now_ms())
            self.entries.append(entry)
            charge.entries = [entry]
        return True

    def _entry(self, charge: Charge, kind: str, amount: int, held: int, now: int) -> dict[str, Any]:
        tariff = charge.tariff
        return {"owner_id": tariff.owner_id, "key_id": tariff.key_id, "kind": kind, "amount": amount,
                "held": held, "request_id": charge.request_id, "model": tariff.model, "reason": None,
                "actor": "gateway", "ref": None, "created_at": now}

    def take_entries(self, hold_older_than_ms: int) -> list[dict[str, Any]]:
        """Ledger rows for the writer: finished requests, plus holds still in flight for a while."""
        cutoff = now_ms() - hold_older_than_ms
        for charge in self.in_flight.values():
            if not charge.persisted and charge.created_ms <= cutoff:
                charge.persisted = True
                entry = self._entry(charge, "hold", 0, charge.hold, charge.created_ms)
                entry["ref"] = self.instance and f"instance:{self.instance}"
                self.entries.append(entry)
        out, self.entries = self.entries, []
        return out
