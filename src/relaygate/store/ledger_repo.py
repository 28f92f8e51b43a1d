"""Ledger SQL: append entries with their balance effect in one transaction, and the sums built on them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from relaygate.core.clock import now_ms
from relaygate.store import tables as t
from relaygate.store.repo import bulk_insert
from relaygate.store.wide import WideInt, wide_add, wide_sum

L = t.ledger_entries
CREDIT_KINDS = ("topup", "adjustment", "refund", "import", "expiry", "redeem")  # the one list of credits
# credits that name a key give its caps the money back (a taken-over task's refund) or take it again
KEY_CREDIT_KINDS = ("refund", "adjustment")


async def append_entries(conn: AsyncConnection, rows: list[dict[str, Any]],
                         dedupe: bool = True) -> list[dict[str, Any]]:
    """Insert entries not stored yet (idempotent by kind + request id) and move each owner's balance.

    Returns the rows actually inserted. Without ``dedupe`` the rows are inserted as they are (the
    unique constraint still refuses a duplicate; the caller then retries with ``dedupe``).
    """
    if not rows:
        return []
    keyed = [(r["kind"], r["request_id"]) for r in rows if r.get("request_id")] if dedupe else []
    existing: set[tuple[str, str]] = set()
    if keyed:
        ids = list({rid for _, rid in keyed})
        for i in range(0, len(ids), 500):
            existing |= {(k, rid) for k, rid in await conn.execute(
                select(L.c.kind, L.c.request_id).where(L.c.request_id.in_(ids[i:i + 500])))}
    fresh, seen = ([], set()) if dedupe else (rows, set())
    for row in rows if dedupe else ():
        ident = (row["kind"], row.get("request_id"))
        if row.get("request_id") and (ident in existing or ident in seen):
            continue
        seen.add(ident)
        fresh.append(row)
    if not fresh:
        return []
    await bulk_insert(conn, "ledger_entries", fresh)
    deltas: dict[str, list[int]] = {}
    for row in fresh:  # the writer's hot loop: one ledger row per priced request
        delta = deltas.get(row["owner_id"])
        if delta is None:
            delta = deltas[row["owner_id"]] = [0, 0]
        delta[0] += row.get("amount") or 0
        delta[1] += row.get("held") or 0
    now = now_ms()
    for owner_id, (amount, held) in sorted(deltas.items()):
        updated = await conn.execute(t.balances.update().where(t.balances.c.owner_id == owner_id).values(
            balance=wide_add(t.balances.c.balance, bindparam(None, amount, type_=WideInt())),
            held=t.balances.c.held + held, updated_at=now))
        if updated.rowcount == 0:
            await conn.execute(t.balances.insert().values(owner_id=owner_id, balance=amount, held=held,
                                                          updated_at=now))
    return fresh


async def owner_totals(conn: AsyncConnection, before_ms: int | None = None) -> dict[str, tuple[int, int]]:
    """owner -> (credited, spent): credited = sum of credit kinds, spent = -sum of settles."""
    credited = wide_sum(case((L.c.kind.in_(CREDIT_KINDS), L.c.amount), else_=0))
    spent = wide_sum(case((L.c.kind == "settle", -L.c.amount), else_=0))
    query = select(L.c.owner_id, credited, spent).group_by(L.c.owner_id)
    if before_ms is not None:
        query = select(L.c.owner_id, wide_sum(case((L.c.kind.in_(CREDIT_KINDS) & (L.c.created_at < before_ms),
                                                    L.c.amount), else_=0)), spent).group_by(L.c.owner_id)
    return {r[0]: (int(r[1] or 0), int(r[2] or 0)) for r in await conn.execute(query)}


async def key_spent(conn: AsyncConnection, key_id: str, since_ms: int | None = None) -> int:
    query = select(wide_sum(-L.c.amount)).where(L.c.key_id == key_id, L.c.kind == "settle")
    if since_ms is not None:
        query = query.where(L.c.created_at >= since_ms)
    return int((await conn.execute(query)).scalar() or 0)


async def key_given_back(conn: AsyncConnection, key_id: str, before_ms: int | None = None,
                         since_ms: int | None = None) -> list[Any]:
    """(id, amount) of the credits that name a key (``KEY_CREDIT_KINDS``), created before or since a time."""
    query = select(L.c.id, L.c.amount).where(L.c.key_id == key_id, L.c.kind.in_(KEY_CREDIT_KINDS))
    if before_ms is not None:
        query = query.where(L.c.created_at < before_ms)
    if since_ms is not None:
        query = query.where(L.c.created_at >= since_ms)
    return list((await conn.execute(query.order_by(L.c.id))).all())


async def credits_since(conn: AsyncConnection, since_ms: int) -> list[Any]:
    return list((await conn.execute(
        select(L.c.id, L.c.owner_id, L.c.amount, L.c.kind, L.c.key_id)
        .where(L.c.kind.in_(CREDIT_KINDS), L.c.created_at >= since_ms).order_by(L.c.id))).all())


async def credits_before(conn: AsyncConnection, owner_id: str, entry_id: int) -> int:
    """Everything credited to an owner in entries older (by id) than ``entry_id``, exactly."""
    return int((await conn.execute(select(wide_sum(L.c.amount)).where(
        L.c.owner_id == owner_id, L.c.kind.in_(CREDIT_KINDS), L.c.id < entry_id))).scalar() or 0)


async def check_balances(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Every owner's materialised balance against the sum of its entries."""
    sums = {r[0]: (int(r[1] or 0), int(r[2] or 0)) for r in await conn.execute(
        select(L.c.owner_id, wide_sum(L.c.amount), func.sum(L.c.held)).group_by(L.c.owner_id))}
    stored = {r.owner_id: (int(r.balance), int(r.held)) for r in await conn.execute(select(t.balances))}
    out = []
    for owner_id in sorted(set(sums) | set(stored)):
        s, b = sums.get(owner_id, (0, 0)), stored.get(owner_id, (0, 0))
        out.append({"owner_id": owner_id, "entries_balance": s[0], "stored_balance": b[0],
                    "entries_held": s[1], "stored_held": b[1], "ok": s == b})
    return out
