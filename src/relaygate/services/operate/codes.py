"""Redemption codes: operators create batches, key holders redeem them; One API / New API codes that were
unused at import stay redeemable with the same code.

A code is stored only as its SHA-256 (``core.keys.hash_secret``, the form the migration stores too) with a
masked form for listings; the full codes of a new batch are shown once, when it is created. Redeeming is
one transaction: the code moves from ``unused`` to ``used`` only if it still is ``unused`` and not
expired (a compare-and-set, so of two people redeeming one code at once exactly one wins), and the
same transaction writes the owner's ``redeem`` ledger entry, keyed by the code so it can never be
booked twice. A code with ``max_uses`` N > 1 redeems N times, each for another owner: the compare-and-set takes
one more use while some are left, and a ``redemption_uses`` row per (code, owner) refuses an owner's second
try in the same transaction. The running gateway picks the credit up like any top-up (``BalanceSync``).
"""

from __future__ import annotations

import csv
import io
import secrets
from typing import Any

from sqlalchemy import and_, case, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.clock import iso, now_ms
from relaygate.core.errors import InvalidInput
from relaygate.core.ids import short_id
from relaygate.core.keys import hash_secret
from relaygate.core.money import format_amount, plain_amount
from relaygate.store import tables as t
from relaygate.store.db import set_meta
from relaygate.store.ledger_repo import append_entries

C = t.redemption_codes
MAX_BATCH = 10_000
MAX_USES = 100_000


def mask_code(code: str) -> str:
    return f"{code[:4]}…{code[-4:]}" if len(code) > 10 else "…"


def code_view(row: Any, currency: str) -> dict[str, Any]:
    return {"id": row.id, "code": row.masked, "name": row.name, "amount": plain_amount(row.amount),
            "amount_text": format_amount(row.amount, currency), "status": row.status,
            "expires_at": iso(row.expires_at), "redeemed_at": iso(row.redeemed_at), "redeemed_by": row.redeemed_by,
            "source": row.source, "batch": row.ref, "uses": row.uses, "max_uses": row.max_uses}


def batch_csv(batch: dict[str, Any]) -> str:
    """A new batch's codes as CSV (code, amount, uses, expires_at, batch, name): the export an operator hands out. The
    full codes exist only in the answer that created the batch, so this is the one moment to export them."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["code", "amount", "uses", "expires_at", "batch", "name"])
    for code in batch["codes"]:
        writer.writerow([code, batch["amount"], batch["uses"], batch["expires_at"] or "", batch["batch"],
                         batch["name"]])
    return out.getvalue()


class RedemptionCodes:
    def __init__(self, engine: AsyncEngine, currency: str) -> None:
        self.engine = engine
        self.currency = currency

    async def create_batch(self, name: str, amount: int, count: int, expires_at: int | None,
                           actor: str, uses: int = 1) -> dict[str, Any]:
        """A batch of ``count`` codes worth ``amount`` each, each redeemable ``uses`` times (by as many owners);
        the codes are in the answer, and only there."""
        if not name.strip():
            raise InvalidInput("Give the batch a name (--name).", "请为这批兑换码命名（--name）。")
        if amount <= 0:
            raise InvalidInput("A code's amount must be positive.", "兑换码金额必须为正数。")
        if not 1 <= count <= MAX_BATCH:
            raise InvalidInput(f"A batch holds 1 to {MAX_BATCH} codes.", f"每批兑换码数量为 1 到 {MAX_BATCH}。")
        if not 1 <= uses <= MAX_USES:
            raise InvalidInput(f"A code allows 1 to {MAX_USES} uses.", f"每个兑换码可使用 1 到 {MAX_USES} 次。")
        now = now_ms()
        if expires_at is not None and expires_at <= now:
            raise InvalidInput("The expiry is in the past.", "过期时间早于当前时间。")
        batch = short_id("batch")
        codes = [secrets.token_hex(16) for _ in range(count)]  # 32 hex characters, like One API's codes
        rows = [{"id": f"native_{short_id('code')}", "code_hash": hash_secret(code), "masked": mask_code(code),
                 "name": name.strip()[:128], "amount": amount, "status": "unused", "expires_at": expires_at,
                 "redeemed_at": None, "redeemed_by": None, "source": "native", "ref": batch,
                 "created_at": now, "updated_at": now, "max_uses": uses, "uses": 0} for code in codes]
        async with self.engine.begin() as conn:
            await conn.execute(C.insert(), rows)
        return {"batch": batch, "name": name, "count": count, "uses": uses, "amount": plain_amount(amount),
                "amount_text": format_amount(amount, self.currency), "expires_at": iso(expires_at),
                "created_by": actor, "codes": codes}

    async def list_codes(self, status: str | None = None, batch: str | None = None,
                         limit: int = 500) -> list[dict[str, Any]]:
        if status not in (None, "unused", "used", "disabled"):
            raise InvalidInput("status is one of unused, used, disabled.", "status 只能是 unused、used 或 disabled。")
        query = select(C)
        if status:
            query = query.where(C.c.status == status)
        if batch:
            query = query.where(C.c.ref == batch)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query.order_by(C.c.created_at.desc(), C.c.id).limit(limit))).all()
        return [code_view(r, self.currency) for r in rows]

    async def disable(self, code_id: str) -> dict[str, Any]:
        async with self.engine.begin() as conn:
            res = await conn.execute(update(C).where(C.c.id == code_id, C.c.status == "unused")
                                     .values(status="disabled", updated_at=now_ms()))
            row = (await conn.execute(select(C).where(C.c.id == code_id))).first()
        if row is None:
            raise InvalidInput(f"No redemption code {code_id}.", f"找不到兑换码 {code_id}。", status=404)
        if res.rowcount == 0 and row.status != "disabled":
            raise InvalidInput(f"Code {code_id} is {row.status}; only unused codes can be disabled.",
                               f"兑换码 {code_id} 状态为 {row.status}，只有未使用的兑换码可以停用。", status=409)
        return code_view(row, self.currency)

    async def redeem(self, owner_id: str, code: str, actor: str) -> dict[str, Any]:
        """Credit ``owner_id`` with the code's amount, once; every refusal says why in both languages."""
        code = code.strip()
        if not code:
            raise InvalidInput("Give the code to redeem.", "请提供要兑换的兑换码。")
        digest, now = hash_secret(code), now_ms()
        try:
            async with self.engine.begin() as conn:
                # compare-and-set: one more use only while some are left; the last one marks the code used.
                # status is set before uses: MariaDB's SET sees the columns it already assigned.
                won = await conn.execute(update(C).where(and_(
                    C.c.code_hash == digest, C.c.status == "unused", C.c.uses < C.c.max_uses,
                    or_(C.c.expires_at.is_(None), C.c.expires_at > now))).ordered_values(
                    (C.c.status, case((C.c.uses + 1 >= C.c.max_uses, "used"), else_="unused")),
                    (C.c.uses, C.c.uses + 1), (C.c.redeemed_at, now), (C.c.redeemed_by, owner_id),
                    (C.c.updated_at, now)))
                row = (await conn.execute(select(C).where(C.c.code_hash == digest))).first()
                if won.rowcount != 1 or row is None:
                    raise self._refusal(row, owner_id, now)
                # the same owner twice: the key below exists, the whole transaction (the use above too) rolls back
                await conn.execute(t.redemption_uses.insert().values(code_id=row.id, owner_id=owner_id,
                                                                     actor=actor[:128], redeemed_at=now))
                masked = row.masked
                # one use: keyed by the code, as before; several: by the code and the owner
                ref = f"redeem:{row.id}" if row.max_uses == 1 else \
                    "redeem:" + hash_secret(f"{row.id}:{owner_id}")[:32]
                await append_entries(conn, [{
                    "owner_id": owner_id, "key_id": None, "kind": "redeem", "amount": int(row.amount), "held": 0,
                    "request_id": ref[:40], "model": None,
                    "reason": f"redeemed code {masked} ({row.name})"[:255], "actor": actor, "ref": row.id,
                    "created_at": now}])
                await set_meta(conn, "ledger_version", f"{now}-{owner_id}")
        except IntegrityError:
            raise InvalidInput("Your account already redeemed this code; each account redeems it once.",
                               "你的账户已兑换过该兑换码；每个账户只能兑换一次。", status=409) from None
        return {"code": masked, "amount": plain_amount(row.amount), "amount_text": format_amount(row.amount,
                                                                                              self.currency),
                "owner_id": owner_id, "redeemed_at": iso(now)}

    @staticmethod
    def _refusal(row: Any, owner_id: str, now: int) -> InvalidInput:
        if row is None:
            return InvalidInput("This redemption code does not exist: check it was copied whole.",
                                "该兑换码不存在：请检查是否完整复制。", status=404)
        if row.status == "used" and row.max_uses > 1:
            return InvalidInput(f"This code was redeemed the {row.max_uses} times it allows.",
                                f"该兑换码的 {row.max_uses} 次兑换已全部用完。", status=409)
        if row.status == "used":
            who = "your account" if row.redeemed_by == owner_id else "another account"
            return InvalidInput(f"This code was already redeemed ({iso(row.redeemed_at)}, by {who}).",
                                f"该兑换码已被兑换（{iso(row.redeemed_at)}，"
                                f"{'由你的账户' if row.redeemed_by == owner_id else '由其他账户'}）。", status=409)
        if row.status == "disabled":
            return InvalidInput("This code was disabled by the operator.", "该兑换码已被管理员停用。", status=409)
        when = iso(row.expires_at)
        return InvalidInput(f"This code expired on {when}.", f"该兑换码已于 {when} 过期。", status=410)
