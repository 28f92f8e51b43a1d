"""Admin REST API for money: the price list, group terms, balances (stored and live), top-ups, statements."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from relaygate.app import Gateway
from relaygate.core.clock import parse_time
from relaygate.core.errors import InvalidInput, prefers_chinese
from relaygate.core.money import MoneyError, format_amount, parse_amount, plain_amount
from relaygate.services.operate.statements import balance_check, build_statement, render_statement
from relaygate.store import tables as t

CLEARABLE_TERMS = ("rpm", "tpm", "concurrency")
STATEMENT_TYPES = {"md": "text/plain; charset=utf-8", "csv": "text/csv; charset=utf-8",
                   "json": "application/json"}
_DECIMAL = "Decimal string in the deployment's currency, e.g. '0.15'."


class PriceIn(BaseModel):
    input_per_m: str | None = Field(None, description="Per 1M input tokens. " + _DECIMAL)
    output_per_m: str | None = Field(None, description="Per 1M output tokens. " + _DECIMAL)
    cached_input_per_m: str | None = Field(None, description="Per 1M cached input tokens (null: as input).")
    per_request: str | None = Field(None, description="A fixed price per request instead of per token.")
    free: bool = False
    max_output_tokens: int | None = Field(None, description="Completion tokens held for when the caller "
                                                            "sends no max_tokens.")


class TermsPatch(BaseModel):
    multiplier: str | None = Field(None, description="Price multiplier as a decimal string: '0.8' is 20% off.")
    rpm: int | None = None
    tpm: int | None = None
    concurrency: int | None = None
    clear: list[str] = Field(default_factory=list, description="Limits to remove: rpm, tpm, concurrency.")


class MoneyIn(BaseModel):
    amount: str = Field(description=_DECIMAL + " Signed for adjustments.")
    reason: str = Field(description="Why; kept in the ledger and on statements.")
    actor: str | None = Field(None, description="Who made the change (default 'admin-api').")
    ref: str | None = Field(None, description="Payment or ticket reference.")


def _amount(raw: str) -> int:
    try:
        return parse_amount(raw)
    except MoneyError as exc:
        raise InvalidInput(f"'{raw}' is not an amount: send a decimal string such as \"10\" or \"12.50\" "
                           "(at most 9 decimals).",
                           f"'{raw}' 不是有效金额：请发送 \"10\" 或 \"12.50\" 这样的十进制字符串（最多 9 位小数）。"
                           ) from exc


def _when(raw: str | None, what: str) -> int | None:
    if raw is None or not raw.strip():
        return None
    try:
        return parse_time(raw)
    except ValueError as exc:
        raise InvalidInput(f"'{raw}' is not a time for '{what}': use an ISO date/time (UTC) or 7d / 2h (ago).",
                           f"'{raw}' 不是有效的 '{what}' 时间：请使用 ISO 日期时间（UTC）或 7d / 2h（之前）。") from exc


def _money(nanos: int, currency: str) -> dict[str, str]:
    """An amount as an exact decimal string and as people read it."""
    return {"amount": plain_amount(nanos), "formatted": format_amount(nanos, currency)}


def _figures(balance: int, held: int, currency: str) -> dict[str, Any]:
    return {"balance": plain_amount(balance), "held": plain_amount(held), "available": plain_amount(balance - held),
            "formatted": {"balance": format_amount(balance, currency), "held": format_amount(held, currency),
                          "available": format_amount(balance - held, currency)}}


async def _balance_view(gw: Gateway, owner: str) -> dict[str, Any]:
    """The ledger's materialised balance, and what this process's counter store enforces now."""
    currency = gw.settings.currency
    async with gw.engine.connect() as conn:
        row = await gw.accounts.resolve_owner(conn, owner)
        bal = (await conn.execute(select(t.balances).where(t.balances.c.owner_id == row.id))).first()
    balance, held = (int(bal.balance), int(bal.held)) if bal is not None else (0, 0)
    view: dict[str, Any] = {"owner_id": row.id, "owner": row.name, "currency": currency,
                            **_figures(balance, held, currency), "live": None}
    if gw.billing is not None:
        state = await gw.counters.read(f"owner:{row.id}")
        view["live"] = _figures((state.cap or 0) - state.used, state.held, currency)
    return view


def add_billing_routes(app: FastAPI, gw: Gateway, auth: list[Any]) -> None:
    """Register the money endpoints on the admin app; ``auth`` is its admin-token dependency list."""

    # prices
    @app.get("/api/prices", dependencies=auth)
    async def list_prices() -> list[dict[str, Any]]:
        return await gw.pricing.list_prices()

    @app.put("/api/prices/{model:path}", dependencies=auth)
    async def put_price(model: str, body: PriceIn) -> dict[str, Any]:
        return await gw.pricing.set_price(model, **body.model_dump())

    @app.delete("/api/prices/{model:path}", dependencies=auth, status_code=204)
    async def delete_price(model: str) -> None:
        await gw.pricing.delete_price(model)

    # group terms
    @app.patch("/api/groups/{name}/terms", dependencies=auth)
    async def patch_terms(name: str, body: TermsPatch) -> dict[str, Any]:
        unknown = [c for c in body.clear if c not in CLEARABLE_TERMS]
        if unknown:
            raise InvalidInput(f"'clear' takes {', '.join(CLEARABLE_TERMS)}; got {', '.join(unknown)}.",
                               f"'clear' 只能是 {', '.join(CLEARABLE_TERMS)}；收到 {', '.join(unknown)}。")
        return await gw.pricing.set_group_terms(name, multiplier=body.multiplier, rpm=body.rpm, tpm=body.tpm,
                                                concurrency=body.concurrency, clear=tuple(body.clear))

    # balances (the fixed path first, so 'check' is never read as an owner)
    @app.get("/api/balances/check", dependencies=auth)
    async def check() -> dict[str, Any]:
        currency = gw.settings.currency
        names = {o["id"]: o["name"] for o in await gw.accounts.list_owners()}
        owners = []
        for row in await balance_check(gw.engine):
            owners.append({"owner_id": row["owner_id"], "owner": names.get(row["owner_id"]), "ok": row["ok"],
                           **{f: _money(row[f], currency) for f in ("stored_balance", "entries_balance",
                                                                    "stored_held", "entries_held")}})
        return {"ok": all(o["ok"] for o in owners), "owners": owners}

    @app.get("/api/balances/{owner}", dependencies=auth)
    async def get_balance(owner: str) -> dict[str, Any]:
        return await _balance_view(gw, owner)

    async def record(owner: str, kind: str, body: MoneyIn) -> dict[str, Any]:
        done = await gw.ledger.record(owner, kind, _amount(body.amount), body.reason, body.actor or "admin-api",
                                      body.ref)
        if gw.billing is not None:
            await gw.balance_sync.apply_credits()  # this process enforces the new balance at once
        return {**done, **_money(done["amount"], gw.settings.currency), "ref": body.ref,
                "balance_after": await _balance_view(gw, done["owner_id"])}

    @app.post("/api/balances/{owner}/topup", dependencies=auth, status_code=201)
    async def topup(owner: str, body: MoneyIn) -> dict[str, Any]:
        return await record(owner, "topup", body)

    @app.post("/api/balances/{owner}/adjust", dependencies=auth, status_code=201)
    async def adjust(owner: str, body: MoneyIn) -> dict[str, Any]:
        return await record(owner, "adjustment", body)

    @app.get("/api/balances/{subject}/statement", dependencies=auth)
    async def statement(request: Request, subject: str,
                        since: str | None = Query(None, alias="from", description="ISO time or 7d (ago)."),
                        until: str | None = Query(None, alias="to", description="ISO time or 1d (ago); exclusive."),
                        fmt: str = Query("json", alias="format", description="md, csv or json.")) -> Response:
        if fmt not in STATEMENT_TYPES:
            raise InvalidInput(f"Unknown format '{fmt}'; use md, csv or json.",
                               f"未知格式 '{fmt}'；可用 md、csv、json。")
        st = await build_statement(gw.engine, subject, _when(since, "from"), _when(until, "to"), gw.settings.currency)
        lang = "zh-CN" if prefers_chinese(request.headers.get("accept-language")) else "en"
        text = render_statement(st, fmt, lang)
        if fmt == "json":  # add people-readable amounts next to the exact ones
            doc = orjson.loads(text)
            doc["formatted"] = {f: format_amount(st[f], st["currency"])
                                for f in ("opening_balance", "usage_total", "closing_balance", "holds_in_flight")}
            text = orjson.dumps(doc).decode()
        return Response(text, media_type=STATEMENT_TYPES[fmt])
