"""What a key holder may see and do for themselves, always scoped to their own owner.

Every method takes the owner id from the caller's authenticated key (or signed-in user), never
from the request, so an id guessed or copied from another owner finds nothing (404), the same as an
id that does not exist. Records carry only the fields support asks for; channels, upstream models,
attempts and other owners' data never appear. No full key is ever returned.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.errors import InvalidInput
from relaygate.core.money import format_amount, plain_amount
from relaygate.services.operate.accounts import key_view
from relaygate.services.operate.statements import build_statement, render_statement
from relaygate.services.operate.usage import UsageFilter, UsageQuery
from relaygate.store import tables as t
from relaygate.store.ledger_repo import key_spent

SAFE_FIELDS = ("request_id", "time", "masked_key", "key_id", "requested_model", "status", "error_code", "client",
               "client_version", "entry_path", "prompt_tokens", "completion_tokens", "total_tokens", "stream",
               "latency_ms", "estimated", "cost")
KEY_FIELDS = ("id", "masked", "name", "group", "environment", "enabled", "disabled_reason", "expires_at",
              "allowed_models", "caps", "limits", "created_at")
def _safe(rec: dict[str, Any], currency: str) -> dict[str, Any]:
    out = {name: rec.get(name) for name in SAFE_FIELDS}
    out["cost_text"] = format_amount(int(rec.get("cost") or 0), currency)
    return out


def ticket_text(rec: dict[str, Any], lang: str) -> str:
    """The 'send to support' text: exactly the safe fields support asks for, never a key or a prompt."""
    fields = ("request_id", "time", "requested_model", "status", "error_code", "client", "masked_key")
    lines = [f"{name}: {rec.get(name) if rec.get(name) is not None else '-'}" for name in fields]
    head = "请帮我查看这个请求：" if lang.startswith("zh") else "Please look into this request:"
    return "\n".join([head, *lines])


class SelfService:
    def __init__(self, engine: AsyncEngine, currency: str) -> None:
        self.engine = engine
        self.currency = currency
        self.usage = UsageQuery(engine)

    async def balance(self, owner_id: str, held_now: int | None = None) -> dict[str, Any]:
        st = await build_statement(self.engine, owner_id, None, None, self.currency)
        held = st["holds_in_flight"] if held_now is None else held_now
        balance = st["closing_balance"]
        return {"owner": st["owner"], "currency": self.currency, "balance": plain_amount(balance),
                "balance_text": format_amount(balance, self.currency), "held": plain_amount(held),
                "held_text": format_amount(held, self.currency), "available": plain_amount(balance - held),
                "available_text": format_amount(balance - held, self.currency), "negative": balance < 0}

    async def statement(self, owner_id: str, from_ms: int | None, to_ms: int | None, fmt: str,
                        lang: str) -> tuple[str, dict[str, Any]]:
        if fmt not in ("json", "md", "csv"):
            raise InvalidInput("format is json, md or csv.", "format 只能是 json、md 或 csv。")
        st = await build_statement(self.engine, owner_id, from_ms, to_ms, self.currency)
        # the text is what `relaygate balance statement --format FMT` prints (JSON: exact decimal strings)
        return render_statement(st, fmt, lang), st

    async def keys(self, owner_id: str) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(t.api_keys).where(t.api_keys.c.owner_id == owner_id)
                                       .order_by(t.api_keys.c.created_at))).all()
            out = []
            for row in rows:
                view = {k: v for k, v in key_view(row).items() if k in KEY_FIELDS}
                spent = await key_spent(conn, row.id)
                view["spent"], view["spent_text"] = plain_amount(spent), format_amount(spent, self.currency)
                out.append(view)
        return out

    async def requests(self, owner_id: str, *, model: str | None = None, status: int | None = None,
                       errors_only: bool = False, since_ms: int | None = None, until_ms: int | None = None,
                       key_id: str | None = None, limit: int = 50,
                       before_id: int | None = None) -> list[dict[str, Any]]:
        flt = UsageFilter(owner_id=owner_id, key_id=key_id, model=model, status=status, errors_only=errors_only,
                          since_ms=since_ms, until_ms=until_ms)
        rows = await self.usage.search(flt, limit=max(1, min(limit, 500)), before_id=before_id)
        return [{**_safe(r, self.currency), "id": r["id"]} for r in rows if r.get("owner_id") == owner_id]

    async def request(self, owner_id: str, request_id: str, lang: str) -> dict[str, Any]:
        rows = await self.usage.search(UsageFilter(owner_id=owner_id, request_id=request_id), limit=1)
        if not rows or rows[0].get("owner_id") != owner_id:
            raise InvalidInput(f"No request {request_id} among your requests.", f"你的请求中没有 {request_id}。",
                               status=404)
        rec = _safe(rows[0], self.currency)
        rec["ticket"] = ticket_text(rec, lang)
        return rec
