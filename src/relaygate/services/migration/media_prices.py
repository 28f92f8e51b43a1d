"""Per-unit prices of image, audio and video models as the source charged them, carried as relaygate
media prices (``relaygate media prices``; charged through core/money.py ``unit_cost``).

How each project charged (the group ratio on top, as relaygate's group multiplier does):

- One API images (relay/controller/image.go): ``model ratio × size ratio × 1000`` quota per image,
  the ratio looked up by the mapped name as for text (``model(type)`` first, the implicit 30 last);
  size ratios from relay/billing/ratio/image.go, dall-e-3 ``hd`` × 2 at 1024x1024, × 1.5 wider.
- One API speech (relay/controller/audio.go): ``len(input) × model ratio`` quota, so ``model ratio ×
  1,000,000`` per 1M characters (One API counted UTF-8 bytes: Chinese input cost three times as much).
  Transcriptions were charged the transcript's token count as quota (counted as for whisper-1 whatever
  model was asked for; no model or group ratio): 1,000,000 quota per 1M output tokens (``mtokens``).
- New API (relay/helper/price.go): a ``ModelPrice`` (USD per call) is the price of one image (× the
  size and quality ratio of dall-e models, dto ImageRequest.GetTokenCountMeta), of one speech or
  transcription call, or of one video task; Sora tasks (type 55) were charged per second, × 5/3 at
  1792x1024 and 1024x1792. A tts* model priced by ratio was charged its input's characters (runes, its
  prompt tokens) × model ratio: per 1M characters here. A transcription model priced by ratio was
  charged its tokens × model ratio: ``model ratio × 1,000,000`` quota per 1M output (transcript) tokens
  here. Any other media model priced by ratio was charged by tokens: no unit price matches it.
"""

from __future__ import annotations

from fractions import Fraction as F
from typing import Any

from sqlalchemy import select

from relaygate.core.clock import now_ms
from relaygate.core.money import MoneyError, parse_amount, plain_amount
from relaygate.services.migration import defaults as d
from relaygate.services.migration.context import Ctx, amount
from relaygate.services.migration.pricing import Ratios, propose, show_ratio
from relaygate.services.migration.units import Units, round_fraction
from relaygate.store import tables as t

# One API relay/billing/ratio/image.go ImageSizeRatios (a size missing from a model's table: ratio 1)
ONEAPI_IMAGE_SIZES: dict[str, dict[str, F]] = {
    "dall-e-2": {"256x256": F(1), "512x512": F(9, 8), "1024x1024": F(5, 4)},
    "dall-e-3": {"1024x1024": F(1), "1024x1792": F(2), "1792x1024": F(2)},
}
# New API dto ImageRequest.GetTokenCountMeta: every dall-e* model
NEWAPI_DALLE_SIZES: dict[str, F] = {"256x256": F(2, 5), "512x512": F(9, 20), "1024x1024": F(1),
                                    "1024x1792": F(2), "1792x1024": F(2)}
DALLE3_HD = {"1024x1024": F(2), "1024x1792": F(3, 2), "1792x1024": F(3, 2)}  # quality hd, both projects
SORA_TYPE = 55  # New API's Sora channels: ModelPrice per second
SORA_SIZES = {"1792x1024": F(5, 3), "1024x1792": F(5, 3)}  # New API's 1.666667
IMAGE_QUOTA = 1000  # One API: quota per image at ratio 1
UNITS_TEXT = {"image": "per image", "second": "per second", "mchars": "per 1M characters",
              "mtokens": "per 1M output tokens", "call": "per call"}


TASK_NOUN = {"images": "an image", "audio": "an audio", "video": "a video"}


def audio_kind(model: str) -> str:
    return "speech" if "tts" in model.lower() or "speech" in model.lower() else "transcription"


def _image_variants(sizes: dict[str, F], hd: bool) -> dict[str, F]:
    """variant -> factor: '*' at 1, each size, and size/hd for dall-e-3."""
    out: dict[str, F] = {"*": F(1)}
    for size, factor in sizes.items():
        if factor != 1:
            out[size] = factor
        if hd and size in DALLE3_HD:
            out[f"{size}/hd"] = factor * DALLE3_HD[size]
    return out


def propose_media(ratios: Ratios, units: Units, public: str, upstream: str, channel_type: int,
                  task: str) -> dict[str, Any]:
    """The plan's ``media_price`` of one model: unit, amounts per variant (target currency), basis,
    the source's quota per unit; or ``unit: null`` with why nothing is proposed."""
    if ratios.kind == "oneapi":
        prop = propose(ratios, units, public, upstream, channel_type)
        ratio = prop.model_ratio or F(0)
        why = f"model ratio {show_ratio(ratio)} ({prop.key})" + (" — the implicit ratio 30, review it"
                                                                 if prop.basis == "implicit" else "")
        if task == "images":
            factors = _image_variants(ONEAPI_IMAGE_SIZES.get(upstream, {}), upstream == "dall-e-3")
            quota = {v: ratio * f * IMAGE_QUOTA for v, f in factors.items()}
            return _entry("image", quota, units, f"One API: {why} × size ratio × 1000 quota per image")
        if task == "audio" and audio_kind(upstream) == "speech":
            return _entry("mchars", {"*": ratio * 1_000_000}, units,
                          f"One API: {why} quota per input byte (UTF-8), here per 1M characters")
        if task != "audio":
            return {"unit": None, "why": "One API had no price for this task"}
        return _entry("mtokens", {"*": F(1_000_000)}, units,
                      "One API: the transcript's token count as quota (counted as for whisper-1 whatever model was "
                      "asked for), no model or group ratio; here per 1M output tokens (the upstream's count, else "
                      "estimated from the transcript). relaygate applies the key's group multiplier: set the "
                      "group's multiplier to 1 or lower this price if that group paid less elsewhere")
    price = ratios.price.get(public)
    if price is None and task == "video":  # tasks fall back to New API's built-in prices (ModelPriceHelperPerCall)
        price = d.NEWAPI_MODEL_PRICE.get(public)
    model_ratio = ratios.model.get(public)
    if price is None and model_ratio is not None and task == "audio" and public.lower().startswith("tts"):
        # New API counts a tts* model's input in characters (runes) as its prompt tokens and bills them at the
        # model ratio, with no completion: per character, as relaygate counts speech input
        return _entry("mchars", {"*": model_ratio * 1_000_000}, units,
                      f"New API: model ratio {show_ratio(model_ratio)} quota per input character (a tts* model's "
                      "prompt tokens are its characters), here per 1M characters")
    if price is None and model_ratio is not None and task == "audio" and audio_kind(public) == "transcription":
        # New API billed a transcription by tokens at its model ratio: carried on the transcript's (output) tokens
        return _entry("mtokens", {"*": model_ratio * 1_000_000}, units,
                      f"New API: model ratio {show_ratio(model_ratio)} quota per token of the upstream's reported "
                      "usage; here per 1M output (transcript) tokens, the upstream's count, else estimated from the "
                      "transcript")
    if price is None:
        if model_ratio is not None or ratios.self_use:
            what = {"images": "an estimate of the prompt's tokens",
                    "audio": ("the upstream's reported usage, else an estimate of the prompt's tokens"
                              if audio_kind(public) == "transcription" else "tokenizer tokens of its input")}
            return {"unit": None, "why": f"New API charged it by tokens at its model ratio ({what.get(task, 'tokens')}"
                                         "), not per unit: no per-unit price matches it; until you set one "
                                         "(`relaygate media prices set`), relaygate refuses it (model_price_missing), "
                                         "which New API did not"}
        return {"unit": None, "source_refused": True,
                "why": "New API had no price for it and refused it (model_price_error): relaygate refuses it too "
                       "until you set one with `relaygate media prices set`"}
    usd = F(price) * units.quota_per_unit  # New API's ModelPrice × QuotaPerUnit, in quota
    basis = f"New API ModelPrice ${show_ratio(F(price))}"
    if task == "images":
        dalle = upstream.startswith("dall-e") or public.startswith("dall-e")
        factors = _image_variants(NEWAPI_DALLE_SIZES if dalle else {}, "dall-e-3" in (public, upstream))
        return _entry("image", {v: usd * f for v, f in factors.items()}, units,
                      basis + " per image" + (" × size and quality ratio" if dalle else ""))
    if task == "video" and channel_type == SORA_TYPE:
        factors = {"*": F(1), **SORA_SIZES}
        return _entry("second", {v: usd * f for v, f in factors.items()}, units, basis + " per second × size ratio")
    return _entry("call", {"*": usd}, units, basis + " per call")


def _entry(unit: str, quota: dict[str, F], units: Units, basis: str) -> dict[str, Any]:
    return {"unit": unit, "amounts": {v: plain_amount(round_nanos(units, q)) for v, q in quota.items()},
            "basis": basis, "source_quota": {v: show_ratio(q) for v, q in quota.items()}}


def round_nanos(units: Units, quota: F) -> int:
    """Quota (possibly fractional) to nanos of the target currency, rounded once."""
    return round_fraction(units.exact(1) * quota)


def plan_rows(entry: dict[str, Any]) -> tuple[str | None, dict[str, int]]:
    """(unit, variant -> nanos) a (possibly hand-edited) plan entry asks for."""
    media = entry.get("media_price")
    if not isinstance(media, dict) or not media.get("unit"):
        return None, {}
    unit = str(media["unit"])
    if unit not in UNITS_TEXT:
        raise MoneyError(f"unit must be one of {', '.join(UNITS_TEXT)} (got {unit!r})")
    amounts = media.get("amounts") or {}
    return unit, {str(v): parse_amount(str(a)) for v, a in amounts.items()}


async def media_prices(ctx: Ctx) -> dict[str, Any]:
    """One media_prices row per (model, unit, variant) of the plan; rows of other units or variants of an
    imported model are left as the operator set them."""
    wanted: dict[tuple[str, str, str], int] = {}
    report: list[dict[str, Any]] = []
    for entry in ctx.plan["models"]:
        name = str(entry.get("new_name") or entry["old_name"])
        try:
            unit, rows = plan_rows(entry)
        except (MoneyError, ValueError) as exc:
            ctx.changes.skipped("media prices", name, f"media_price in the plan is not usable ({exc})")
            continue
        if unit is None:
            continue
        source_quota = (entry.get("media_price") or {}).get("source_quota") or {}
        for variant, nanos in rows.items():
            wanted[(name, unit, variant)] = nanos
            quota = source_quota.get(variant)
            report.append({"model": name, "unit": UNITS_TEXT[unit], "variant": variant,
                           "old_cost": None if quota is None else amount(ctx, round_nanos(
                               ctx.units, F(str(quota).rstrip("…")))), "new_price": amount(ctx, nanos)})
    async with ctx.engine.begin() as conn:
        existing = {(r.model, r.unit, r.variant): int(r.amount) for r in await conn.execute(select(t.media_prices))}
        for key, nanos in sorted(wanted.items()):
            label = f"{key[0]} {UNITS_TEXT[key[1]]}" + ("" if key[2] == "*" else f" ({key[2]})")
            current = existing.get(key)
            if current == nanos:
                ctx.changes.same("media prices")
                continue
            if current is None:
                ctx.changes.created("media prices", label, {"amount": amount(ctx, nanos)})
            else:
                ctx.changes.updated("media prices", label, {"amount": (amount(ctx, current), amount(ctx, nanos))})
            if ctx.apply:
                values = {"amount": nanos, "updated_at": now_ms()}
                if current is None:
                    await conn.execute(t.media_prices.insert().values(model=key[0], unit=key[1], variant=key[2],
                                                                      **values))
                else:
                    await conn.execute(t.media_prices.update().where(
                        t.media_prices.c.model == key[0], t.media_prices.c.unit == key[1],
                        t.media_prices.c.variant == key[2]).values(**values))
    ctx.facts["media_prices"] = report
    return {"media prices": len(wanted)}
