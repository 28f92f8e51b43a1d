"""Operator actions on the price list and on group multipliers and limits."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.clock import iso, now_ms
from relaygate.core.errors import InvalidInput
from relaygate.core.money import PPM, MoneyError, format_amount, parse_amount, parse_multiplier, plain_amount
from relaygate.services.operate.accounts import not_found
from relaygate.store import tables as t
from relaygate.store.db import bump_config_version


def _amount(value: str | None, what: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        amount = parse_amount(value)
    except MoneyError as exc:
        raise InvalidInput(f"{what}: {exc}", f"{what}：金额无效（{value}）") from exc
    if amount < 0:
        raise InvalidInput(f"{what} cannot be negative.", f"{what} 不能为负数。")
    return amount


def price_view(row: Any, currency: str) -> dict[str, Any]:
    def show(v: int | None) -> str | None:
        return None if v is None else plain_amount(v)
    kind = "free" if row.free else "per request" if row.per_request is not None else "per 1M tokens"
    summary = ("free" if row.free else f"{format_amount(row.per_request, currency)} / request"
               if row.per_request is not None else
               f"in {format_amount(row.input_per_m, currency)} / out {format_amount(row.output_per_m, currency)}"
               " per 1M tokens")
    return {"model": row.model, "kind": kind, "input_per_m": show(row.input_per_m),
            "cached_input_per_m": show(row.cached_input_per_m), "output_per_m": show(row.output_per_m),
            "per_request": show(row.per_request), "free": bool(row.free),
            "max_output_tokens": row.max_output_tokens, "summary": summary, "updated_at": iso(row.updated_at)}


class PricingAdmin:
    def __init__(self, engine: AsyncEngine, currency: str) -> None:
        self.engine = engine
        self.currency = currency

    async def set_price(self, model: str, *, input_per_m: str | None = None, output_per_m: str | None = None,
                        cached_input_per_m: str | None = None, per_request: str | None = None,
                        free: bool = False, max_output_tokens: int | None = None) -> dict[str, Any]:
        """Prices are decimal strings in the deployment's currency (per 1M tokens, or per request)."""
        values = {"input_per_m": _amount(input_per_m, "input price") or 0,
                  "output_per_m": _amount(output_per_m, "output price") or 0,
                  "cached_input_per_m": _amount(cached_input_per_m, "cached input price"),
                  "per_request": _amount(per_request, "per-request price"), "free": free,
                  "max_output_tokens": max_output_tokens, "updated_at": now_ms()}
        if not free and values["per_request"] is None and input_per_m is None and output_per_m is None:
            raise InvalidInput("Give --input and --output prices per 1M tokens, --per-request, or --free.",
                               "请给出每 1M tokens 的 --input 与 --output 价格、--per-request，或 --free。")
        async with self.engine.begin() as conn:
            updated = await conn.execute(t.prices.update().where(t.prices.c.model == model).values(**values))
            if updated.rowcount == 0:
                await conn.execute(t.prices.insert().values(model=model, **values))
            await bump_config_version(conn)
            row = (await conn.execute(select(t.prices).where(t.prices.c.model == model))).one()
        return price_view(row, self.currency)

    async def list_prices(self) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(t.prices).order_by(t.prices.c.model))).all()
        return [price_view(r, self.currency) for r in rows]

    async def delete_price(self, model: str) -> None:
        async with self.engine.begin() as conn:
            if (await conn.execute(delete(t.prices).where(t.prices.c.model == model))).rowcount == 0:
                raise not_found("model", model)
            await bump_config_version(conn)

    async def set_group_terms(self, name: str, *, multiplier: str | None = None, rpm: int | None = None,
                              tpm: int | None = None, concurrency: int | None = None,
                              clear: tuple[str, ...] = ()) -> dict[str, Any]:
        """Price multiplier (e.g. '0.8' for a 20% discount) and rate limits of a group."""
        values: dict[str, Any] = {}
        if multiplier is not None:
            try:
                values["multiplier_ppm"] = parse_multiplier(multiplier)
            except MoneyError as exc:
                raise InvalidInput(str(exc), f"倍率无效：{multiplier}") from exc
        for field, value in (("rpm", rpm), ("tpm", tpm), ("concurrency", concurrency)):
            if value is not None:
                if value <= 0:
                    raise InvalidInput(f"{field} must be positive.", f"{field} 必须为正数。")
                values[field] = value
        for field in clear:
            if field not in ("rpm", "tpm", "concurrency"):
                raise InvalidInput(f"Only rpm, tpm and concurrency can be cleared, not '{field}'.",
                                   f"只能清除 rpm、tpm 和 concurrency，不能清除 '{field}'。")
            values[field] = None
        async with self.engine.begin() as conn:
            if not values:
                raise InvalidInput("Nothing to change.", "没有需要修改的内容。")
            values["updated_at"] = now_ms()
            if (await conn.execute(t.groups.update().where(t.groups.c.name == name).values(**values))).rowcount == 0:
                raise not_found("group", name)
            await bump_config_version(conn)
            row = (await conn.execute(select(t.groups).where(t.groups.c.name == name))).one()
        return {"name": row.name, "multiplier": str(row.multiplier_ppm / PPM), "rpm": row.rpm, "tpm": row.tpm,
                "concurrency": row.concurrency}
