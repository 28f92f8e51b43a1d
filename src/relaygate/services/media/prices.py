"""What media costs: a price per unit (image, second, 1M characters, 1M output tokens, call) and model, in nanos.

Images are priced per image by ``size/quality`` (then ``size``, then ``*``); seconds of audio or
video by resolution or size (then ``*``); speech input per 1M characters (``mchars``); a transcript
per 1M output tokens (``mtokens``: its tokens as the upstream reports them, else estimated); a ``call``
price is a fixed price per request and is used when no unit price applies. A model that also has a
token price of ``free`` costs nothing. The group multiplier applies as for tokens (core/money.py).

A transcription is held before its audio is heard: per second at ``HOLD_BYTES_PER_SECOND`` (more
seconds than any real file of that size), and per token at ``HOLD_TOKENS_PER_SECOND`` of those
seconds, at least ``HOLD_MIN_TOKENS``; the charge never exceeds the hold.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.money import PPM, unit_cost
from relaygate.store import tables as t

UNITS = ("image", "second", "mchars", "mtokens", "call")
CHARS_PER_PRICE = 1_000_000
TOKENS_PER_PRICE = 1_000_000
PER = {"mchars": CHARS_PER_PRICE, "mtokens": TOKENS_PER_PRICE}  # units a price is for (1 when absent)
HOLD_BYTES_PER_SECOND = 2_000  # audio held at 16 kbit/s: more seconds than any real file of that size
HOLD_TOKENS_PER_SECOND = 16  # transcript tokens held per held second: fast speech is 3 to 8 a second
HOLD_MIN_TOKENS = 1_000  # the least a token-priced transcription holds (a short clip's cap)


@dataclass(frozen=True, slots=True)
class Quote:
    """A media request's price: ``count`` units of ``unit`` (variant) for ``amount`` nanos in all."""

    unit: str
    variant: str
    count: int
    amount: int

    def view(self) -> dict[str, object]:
        return {"unit": self.unit, "variant": self.variant, "count": self.count}


class MediaPrices:
    """The media price list in memory, reloaded when the configuration changes."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, str], int] = {}

    async def load(self, engine: AsyncEngine) -> None:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(t.media_prices))).all()
        self.rows = {(r.model, r.unit, r.variant): int(r.amount) for r in rows}

    def has(self, model: str) -> bool:
        return any(k[0] == model for k in self.rows)

    def unit_price(self, model: str, unit: str, *variants: str) -> tuple[str, int] | None:
        for variant in (*variants, "*"):
            if variant and (model, unit, variant) in self.rows:
                return variant, self.rows[model, unit, variant]
        return None

    def quote(self, model: str, unit: str, count: int, variants: tuple[str, ...], multiplier_ppm: int = PPM,
              per: int = 1) -> Quote | None:
        """``count`` units at the first matching variant's price, else the model's per-call price, else None."""
        found = self.unit_price(model, unit, *variants)
        if found is not None:
            variant, per_unit = found
            return Quote(unit, variant, count, unit_cost(per_unit, count, per, multiplier_ppm))
        call = self.rows.get((model, "call", "*"))
        if call is not None:
            return Quote("call", "*", 1, unit_cost(call, 1, 1, multiplier_ppm))
        return None

    def image(self, model: str, n: int, size: str, quality: str, multiplier_ppm: int = PPM) -> Quote | None:
        return self.quote(model, "image", n, (f"{size}/{quality}", size), multiplier_ppm)

    def seconds(self, model: str, seconds: int, variant: str, multiplier_ppm: int = PPM) -> Quote | None:
        return self.quote(model, "second", max(seconds, 0), (variant,), multiplier_ppm)

    def characters(self, model: str, chars: int, multiplier_ppm: int = PPM) -> Quote | None:
        return self.quote(model, "mchars", chars, (), multiplier_ppm, per=CHARS_PER_PRICE)

    def transcription(self, model: str, audio_bytes: int, variant: str, multiplier_ppm: int = PPM) -> Quote | None:
        """The hold of a transcription of ``audio_bytes``: per second, else per 1M output tokens, else per call."""
        seconds = max(1, -(-audio_bytes // HOLD_BYTES_PER_SECOND))
        if self.unit_price(model, "second", variant) is None and self.unit_price(model, "mtokens") is not None:
            tokens = max(HOLD_MIN_TOKENS, seconds * HOLD_TOKENS_PER_SECOND)
            return self.quote(model, "mtokens", tokens, (), multiplier_ppm, per=TOKENS_PER_PRICE)
        return self.seconds(model, seconds, variant, multiplier_ppm)

    def again(self, model: str, quote: Quote, count: int, multiplier_ppm: int = PPM) -> int:
        """What ``count`` units of ``quote``'s unit and variant cost now; never more than the quote (its hold)."""
        found = self.quote(model, quote.unit, count, (quote.variant,), multiplier_ppm, per=PER.get(quote.unit, 1))
        return min(found.amount if found is not None else quote.amount, quote.amount)
