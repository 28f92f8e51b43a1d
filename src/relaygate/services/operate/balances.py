"""Operator money actions (top-up, adjustment, refund): each one a ledger entry with a reason."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.clock import now_ms
from relaygate.core.errors import InvalidInput
from relaygate.core.money import format_amount
from relaygate.services.operate.accounts import AccountsAdmin
from relaygate.store.db import set_meta
from relaygate.store.ledger_repo import append_entries


class LedgerAdmin:
    """Operator money actions: every one is a ledger entry with a reason and who made it."""

    def __init__(self, engine: AsyncEngine, currency: str) -> None:
        self.engine = engine
        self.currency = currency

    async def record(self, owner: str, kind: str, amount: int, reason: str, actor: str,
                     ref: str | None = None, request_id: str | None = None) -> dict[str, Any]:
        if kind not in ("topup", "adjustment", "refund", "import", "expiry"):
            raise InvalidInput(f"Unknown entry kind '{kind}'.", f"未知的账目类型 '{kind}'。")
        if not reason or not reason.strip():
            raise InvalidInput("Every balance change needs a reason (--reason).",
                               "每次余额变动都需要原因（--reason）。")
        if kind == "topup" and amount <= 0:
            raise InvalidInput("A top-up must be positive; use an adjustment to reduce a balance.",
                               "充值金额必须为正数；减少余额请使用调整（adjust）。")
        async with self.engine.begin() as conn:
            owner_row = await AccountsAdmin(self.engine).resolve_owner(conn, owner)
            row = {"owner_id": owner_row.id, "key_id": None, "kind": kind, "amount": amount, "held": 0,
                   "request_id": request_id, "model": None, "reason": reason.strip(), "actor": actor, "ref": ref,
                   "created_at": now_ms()}
            inserted = await append_entries(conn, [row])
            await set_meta(conn, "ledger_version", f"{now_ms()}-{owner_row.id}")
        return {"owner_id": owner_row.id, "owner": owner_row.name, "kind": kind, "amount": amount,
                "amount_text": format_amount(amount, self.currency), "reason": reason, "actor": actor,
                "recorded": bool(inserted)}
