"""Balances as the console and portal list them: balance, held, available per owner, from ``balances``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.money import format_amount
from relaygate.store import tables as t


async def balances(engine: AsyncEngine, currency: str, owner_id: str | None = None) -> list[dict[str, Any]]:
    OW, B = t.owners, t.balances
    query = select(OW.c.id, OW.c.name, OW.c.kind, B.c.balance, B.c.held).select_from(
        OW.outerjoin(B, B.c.owner_id == OW.c.id)).order_by(OW.c.name)
    if owner_id is not None:
        query = query.where((OW.c.id == owner_id) | (OW.c.name == owner_id))
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    out = []
    for r in rows:
        balance, held = int(r.balance or 0), int(r.held or 0)
        out.append({"owner_id": r.id, "owner": r.name, "kind": r.kind, "balance": balance, "held": held,
                    "available": balance - held, "balance_text": format_amount(balance, currency),
                    "held_text": format_amount(held, currency),
                    "available_text": format_amount(balance - held, currency)})
    return out
