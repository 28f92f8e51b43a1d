"""The money of a task taken over from New API at `migrate import` (docs/billing.md, "Taken-over tasks").

New API takes a task's price from the user's quota when the task is submitted (its pre-charge) and
gives it back when the task fails. The import carried the quota *after* that pre-charge as the owner's
balance, so relaygate holds nothing for a taken-over task; its record keeps the pre-charge (``prepaid``,
nanos) and its end books exactly one of:

- ``succeeded``: nothing moves (the pre-charge stands, as in New API); a zero ``settle`` entry says so;
- ``failed`` / ``expired`` / ``cancelled``: a ``refund`` of the pre-charge, as New API would have made, to
  the owner's balance and to the key's total cap (New API gave it back to the token's remaining quota,
  which the import made that cap): the refund entry names the key, and the key's spend counts it;
- any end while the old system still runs (a rollout's legacy route is registered): nothing moves here,
  because New API finishes its own tasks and refunds into its quota, which the next sync books.

Ledger rows carry the task's request id (``imp:<tag>:t<row id>``, unique per kind), so an end is booked
once however many workers poll.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from relaygate.core.money import format_amount
from relaygate.store import tables as t
from relaygate.store.db import set_meta


async def old_system_runs(conn: AsyncConnection) -> bool:
    """True while a rollout's legacy route is registered: the old system still polls and refunds its tasks."""
    row = (await conn.execute(select(t.rollout_settings.c.base_url).where(t.rollout_settings.c.id == 1))).first()
    return bool(row is not None and row.base_url)


def prepaid_text(row: Any, currency: str) -> str:
    imported = (row.params or {}).get("imported") or {}
    system = imported.get("system_name") or "New API"
    quota = imported.get("quota")
    units = f"{quota} quota units, " if quota is not None else ""
    return f"{system}'s pre-charge of {units}{format_amount(int(row.prepaid or 0), currency)}"


def end_entries(row: Any, state: str, reason: str, runs: bool, currency: str,
                now: int) -> tuple[int, list[dict[str, Any]]]:
    """(cost recorded on the task, ledger rows) for a taken-over task ending in ``state``."""
    prepaid = int(row.prepaid or 0)
    pre = prepaid_text(row, currency)
    base = {"owner_id": row.owner_id, "key_id": row.key_id or None, "request_id": row.request_id,
            "model": row.model, "actor": "gateway", "ref": row.id, "held": 0, "created_at": now}
    if state == "succeeded":
        why = f"{reason}; {pre} stands (taken before the import): nothing more charged"
        return prepaid, [{**base, "kind": "settle", "amount": 0, "reason": why[:255]}]
    if runs:
        why = (f"{reason}; the old system still runs (legacy route registered): it refunds {pre} itself and the "
               "next sync books it")
        return 0, [{**base, "kind": "refund", "amount": 0, "reason": why[:255]}]
    why = f"{reason}; {pre} refunded (taken before the import)"
    return 0, [{**base, "kind": "refund", "amount": prepaid, "reason": why[:255]}]


async def credited_entry(conn: AsyncConnection, row: Any, now: int) -> int | None:
    """The id of the task's refund entry when it credits money (the counters apply it once, by this id)."""
    L = t.ledger_entries
    found = (await conn.execute(select(L.c.id, L.c.amount).where(
        L.c.kind == "refund", L.c.request_id == row.request_id))).first()
    if found is None or not int(found.amount or 0):
        return None
    await set_meta(conn, "ledger_version", f"{now}-task-{row.id}")
    return int(found.id)
