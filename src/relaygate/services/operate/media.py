"""Operator actions on media: per-unit prices, and looking up a task for support."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.clock import now_ms
from relaygate.core.errors import GatewayError, InvalidInput
from relaygate.core.money import MoneyError, format_amount, parse_amount, plain_amount
from relaygate.services.media.ssrf import UrlGuard
from relaygate.services.operate.accounts import AccountsAdmin
from relaygate.services.operate.tasks import TaskDesk
from relaygate.store import tables as t
from relaygate.store.db import bump_config_version

UNITS = {"image": ("per image", "每张图片"), "second": ("per second", "每秒"),
         "mchars": ("per 1M characters", "每百万字符"), "mtokens": ("per 1M output tokens", "每百万输出 token"),
         "call": ("per call", "每次调用")}


class MediaPricing:
    def __init__(self, engine: AsyncEngine, currency: str) -> None:
        self.engine = engine
        self.currency = currency

    def view(self, row: Any) -> dict[str, Any]:
        """A price with its unit stated in English (``summary``) and Simplified Chinese (``summary_zh``)."""
        variant = "" if row.variant == "*" else f" ({row.variant})"
        money = format_amount(row.amount, self.currency)
        en, zh = UNITS.get(row.unit, (row.unit, row.unit))
        return {"model": row.model, "unit": row.unit, "variant": row.variant, "amount": plain_amount(row.amount),
                "summary": f"{money} {en}{variant}", "summary_zh": f"{money} {zh}{variant}"}

    async def set_price(self, model: str, unit: str, amount: str, variant: str = "*") -> dict[str, Any]:
        if unit not in UNITS:
            raise InvalidInput(f"Unknown unit '{unit}': use {', '.join(UNITS)}.",
                               f"未知单位 '{unit}'：可用 {', '.join(UNITS)}。")
        if unit == "call" and variant != "*":
            raise InvalidInput("A per-call price has no variant.", "按次价格没有规格（variant）。")
        try:
            nanos = parse_amount(amount)
        except MoneyError as exc:
            raise InvalidInput(f"Amount: {exc}", f"金额无效（{amount}）") from exc
        if nanos < 0:
            raise InvalidInput("A price cannot be negative.", "价格不能为负数。")
        variant = variant.strip() or "*"
        async with self.engine.begin() as conn:
            await conn.execute(delete(t.media_prices).where(t.media_prices.c.model == model,
                                                            t.media_prices.c.unit == unit,
                                                            t.media_prices.c.variant == variant))
            await conn.execute(t.media_prices.insert().values(model=model, unit=unit, variant=variant, amount=nanos,
                                                              updated_at=now_ms()))
            await bump_config_version(conn)
            row = (await conn.execute(select(t.media_prices).where(
                t.media_prices.c.model == model, t.media_prices.c.unit == unit,
                t.media_prices.c.variant == variant))).one()
        return self.view(row)

    async def list_prices(self) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(t.media_prices).order_by(
                t.media_prices.c.model, t.media_prices.c.unit, t.media_prices.c.variant))).all()
        return [self.view(r) for r in rows]

    async def delete_price(self, model: str, unit: str | None = None, variant: str | None = None) -> int:
        query = delete(t.media_prices).where(t.media_prices.c.model == model)
        if unit:
            query = query.where(t.media_prices.c.unit == unit)
        if variant:
            query = query.where(t.media_prices.c.variant == variant)
        async with self.engine.begin() as conn:
            n = (await conn.execute(query)).rowcount
            if n == 0:
                raise InvalidInput(f"No media price for '{model}'.", f"模型 '{model}' 没有媒体价格。", status=404)
            await bump_config_version(conn)
        return int(n)

    async def task(self, task_id: str) -> dict[str, Any] | None:
        """Every support field of a task, for operators (never the upstream's secret or result URL)."""
        return await TaskDesk(self.engine).detail(task_id)


class KeyCallbacks:
    """The callback URL an operator sets for a key: every video task of that key without its own
    ``callback_url`` reports its end there, signed with the key's callback secret (docs/media.md)."""

    def __init__(self, engine: AsyncEngine, allow_hosts: str = "") -> None:
        self.engine = engine
        self.guard = UrlGuard(allow_hosts)

    async def _key(self, conn: Any, key: str) -> Any:
        return await AccountsAdmin(self.engine).resolve_key(conn, key)

    async def set(self, key: str, url: str, actor: str) -> dict[str, Any]:
        url = url.strip()
        try:
            await self.guard.check(url, "callback_url")
        except GatewayError as exc:
            raise InvalidInput(exc.message("en"), exc.message("zh-CN")) from exc
        async with self.engine.begin() as conn:
            row = await self._key(conn, key)
            T = t.media_key_callbacks
            await conn.execute(delete(T).where(T.c.key_id == row.id))
            await conn.execute(T.insert().values(key_id=row.id, callback_url=url[:1024], updated_by=actor[:128],
                                                 updated_at=now_ms()))
        return {"key_id": row.id, "callback_url": url}

    async def get(self, key: str) -> dict[str, Any]:
        async with self.engine.connect() as conn:
            row = await self._key(conn, key)
            url = (await conn.execute(select(t.media_key_callbacks.c.callback_url).where(
                t.media_key_callbacks.c.key_id == row.id))).scalar()
        return {"key_id": row.id, "callback_url": url}

    async def clear(self, key: str) -> dict[str, Any]:
        async with self.engine.begin() as conn:
            row = await self._key(conn, key)
            await conn.execute(delete(t.media_key_callbacks).where(t.media_key_callbacks.c.key_id == row.id))
        return {"key_id": row.id, "callback_url": None}
