"""Rollout evidence kept by hand: balance disputes raised by owners and the retirement checklist."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.clock import iso, now_ms
from relaygate.core.errors import InvalidInput
from relaygate.services.rollout import repo
from relaygate.store import tables as t

CHECK_KINDS = ("docs", "screenshots", "macros", "base_url", "other")
D = t.rollout_disputes
C = t.rollout_checklist


class Evidence:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    # --- balance disputes --------------------------------------------------------------------

    async def add_dispute(self, owner: str, note: str, actor: str, batch: str | None = None) -> dict[str, Any]:
        from relaygate.services.operate.accounts import AccountsAdmin

        if not note.strip():
            raise InvalidInput("A dispute needs a note (what the owner says is wrong).",
                               "争议需要备注（负责人认为哪里不对）。")
        async with self.engine.begin() as conn:
            owner_row = await AccountsAdmin(self.engine).resolve_owner(conn, owner)
            if batch is not None:
                batch_id: int | None = (await repo.get_batch(conn, batch)).id
            else:
                batch_id = (await conn.execute(select(t.rollout_members.c.batch_id).where(
                    t.rollout_members.c.owner_id == owner_row.id))).scalar()
            result = await conn.execute(D.insert().values(
                owner_id=owner_row.id, batch_id=batch_id, note=note.strip(), status="open", created_by=actor[:128],
                created_at=now_ms()))
            ident = int(result.inserted_primary_key[0]) if result.inserted_primary_key else 0
        return (await self.disputes(ident=ident))[0]

    async def resolve_dispute(self, ident: int, resolution: str, actor: str) -> dict[str, Any]:
        async with self.engine.begin() as conn:
            done = await conn.execute(D.update().where(D.c.id == ident).values(
                status="resolved", resolution=f"{resolution.strip()} ({actor})"[:4000], resolved_at=now_ms()))
            if done.rowcount == 0:
                raise InvalidInput(f"No dispute {ident}.", f"找不到争议 {ident}。", status=404)
        return (await self.disputes(ident=ident))[0]

    async def disputes(self, ident: int | None = None, batch_id: int | None = None) -> list[dict[str, Any]]:
        query = select(D, t.owners.c.name, t.rollout_batches.c.name.label("batch_name")).select_from(
            D.outerjoin(t.owners, t.owners.c.id == D.c.owner_id)
            .outerjoin(t.rollout_batches, t.rollout_batches.c.id == D.c.batch_id)).order_by(D.c.id)
        if ident is not None:
            query = query.where(D.c.id == ident)
        if batch_id is not None:
            query = query.where(D.c.batch_id == batch_id)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [{"id": r.id, "owner_id": r.owner_id, "owner": r.name, "batch": r.batch_name, "note": r.note,
                 "status": r.status, "resolution": r.resolution, "created_by": r.created_by,
                 "time": iso(r.created_at), "resolved_at": iso(r.resolved_at)} for r in rows]

    # --- retirement checklist ----------------------------------------------------------------

    async def add_item(self, item: str, owner: str, kind: str = "other") -> dict[str, Any]:
        if kind not in CHECK_KINDS:
            raise InvalidInput(f"Unknown checklist kind '{kind}'; use one of: {', '.join(CHECK_KINDS)}.",
                               f"未知的清单类别 '{kind}'；可用：{', '.join(CHECK_KINDS)}。")
        if not item.strip() or not owner.strip():
            raise InvalidInput("A checklist item needs a text and an owner (who will do it).",
                               "清单项需要内容和负责人（由谁完成）。")
        async with self.engine.begin() as conn:
            result = await conn.execute(C.insert().values(kind=kind, item=item.strip(), owner=owner.strip()[:128],
                                                          done=False, created_at=now_ms()))
            ident = int(result.inserted_primary_key[0]) if result.inserted_primary_key else 0
        return (await self.checklist(ident))[0]

    async def mark(self, ident: int, actor: str, done: bool = True, note: str | None = None,
                   owner: str | None = None) -> dict[str, Any]:
        values: dict[str, Any] = {"done": done, "done_by": actor[:128] if done else None,
                                  "done_at": now_ms() if done else None}
        if note is not None:
            values["note"] = note
        if owner is not None:
            values["owner"] = owner[:128]
        async with self.engine.begin() as conn:
            if (await conn.execute(C.update().where(C.c.id == ident).values(**values))).rowcount == 0:
                raise InvalidInput(f"No checklist item {ident}.", f"找不到清单项 {ident}。", status=404)
        return (await self.checklist(ident))[0]

    async def assign(self, ident: int, owner: str) -> dict[str, Any]:
        if not owner.strip():
            raise InvalidInput("Give the owner of the item.", "请指定该事项的负责人。")
        async with self.engine.begin() as conn:
            if (await conn.execute(C.update().where(C.c.id == ident).values(owner=owner.strip()[:128]))).rowcount == 0:
                raise InvalidInput(f"No checklist item {ident}.", f"找不到清单项 {ident}。", status=404)
        return (await self.checklist(ident))[0]

    async def checklist(self, ident: int | None = None) -> list[dict[str, Any]]:
        query = select(C).order_by(C.c.id)
        if ident is not None:
            query = query.where(C.c.id == ident)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [{"id": r.id, "kind": r.kind, "item": r.item, "owner": r.owner, "done": bool(r.done),
                 "done_by": r.done_by, "done_at": iso(r.done_at), "note": r.note} for r in rows]
