"""The media task table: create, read (always with the owner), claim for polling, end once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from relaygate.store import tables as t

T = t.media_tasks
LT = t.media_legacy_tasks
IN_FLIGHT = ("queued", "running")


async def insert(conn: AsyncConnection, row: dict[str, Any]) -> None:
    await conn.execute(T.insert().values(**row))


async def get(engine: AsyncEngine, task_id: str, owner_id: str | None) -> Any | None:
    """The task, only if it belongs to ``owner_id`` (None: any owner, for operators).

    A task taken over from New API is also found by the id the old system gave its client
    (``source_id``), so a migrated script keeps polling with the id it holds.
    """
    async with engine.connect() as conn:
        for column in (T.c.id, T.c.source_id):
            query = select(T).where(column == task_id)
            if owner_id is not None:
                query = query.where(T.c.owner_id == owner_id)
            row = (await conn.execute(query.limit(1))).first()
            if row is not None:
                return row
    return None


async def get_many(engine: AsyncEngine, ids: Sequence[str], owner_id: str) -> list[Any]:
    """The owner's tasks among ``ids`` (ours or the ids New API gave for tasks taken over), in the order asked."""
    wanted = list(dict.fromkeys(i for i in ids if i))[:100]
    if not wanted:
        return []
    async with engine.connect() as conn:
        rows = (await conn.execute(select(T).where(T.c.owner_id == owner_id, or_(
            T.c.id.in_(wanted), T.c.source_id.in_(wanted))))).all()
    order = {i: n for n, i in enumerate(wanted)}
    return sorted(rows, key=lambda r: order.get(r.id, order.get(r.source_id or "", 0)))


Cursor = tuple[int, str]  # (created_at, id) of the last task on the page before


def _before(created: Any, ident: Any, cursor: Cursor | None) -> Any:
    if cursor is None:
        return true()
    return or_(created < cursor[0], and_(created == cursor[0], ident < cursor[1]))


async def cursor_of(engine: AsyncEngine, owner_id: str, after: str | None) -> Cursor | None:
    """Where a list page given ``after`` (a task id of either side, the owner's) continues from."""
    if not after:
        return None
    async with engine.connect() as conn:
        row = (await conn.execute(select(T.c.created_at).where(T.c.id == after, T.c.owner_id == owner_id))).first()
        if row is None:
            row = (await conn.execute(select(LT.c.created_at).where(LT.c.old_id == after,
                                                                     LT.c.owner_id == owner_id))).first()
    return (int(row.created_at), after) if row is not None else None


async def list_for(engine: AsyncEngine, owner_id: str, limit: int, cursor: Cursor | None) -> list[Any]:
    """The owner's tasks here, newest first, after ``cursor``."""
    query = select(T).where(T.c.owner_id == owner_id, _before(T.c.created_at, T.c.id, cursor))
    async with engine.connect() as conn:
        return list((await conn.execute(query.order_by(T.c.created_at.desc(), T.c.id.desc()).limit(limit))).all())


async def legacy_for(engine: AsyncEngine, owner_id: str, limit: int, cursor: Cursor | None) -> list[Any]:
    """The owner's tasks the old entry created during a rollout, newest first, after ``cursor``."""
    taken = select(T.c.id).where(T.c.owner_id == owner_id, T.c.source_id == LT.c.old_id)  # listed as ours
    query = select(LT).where(LT.c.owner_id == owner_id, _before(LT.c.created_at, LT.c.old_id, cursor),
                             ~taken.exists())
    async with engine.connect() as conn:
        return list((await conn.execute(query.order_by(LT.c.created_at.desc(), LT.c.old_id.desc())
                                        .limit(limit))).all())


async def note_legacy(engine: AsyncEngine, row: dict[str, Any]) -> None:
    """Keep a task the old entry created (once per owner and old id)."""
    async with engine.begin() as conn:
        found = (await conn.execute(select(LT.c.old_id).where(LT.c.owner_id == row["owner_id"],
                                                             LT.c.old_id == row["old_id"]))).first()
        if found is None:
            await conn.execute(LT.insert().values(**row))


async def due(engine: AsyncEngine, now: int, limit: int) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(
            select(T).where(T.c.state.in_(IN_FLIGHT), T.c.next_poll_at <= now)
            .order_by(T.c.next_poll_at).limit(limit))).all())


async def in_flight(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(T).where(T.c.state.in_(IN_FLIGHT)))).all())


async def expired(engine: AsyncEngine, now: int, limit: int) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(
            select(T).where(T.c.state.in_(IN_FLIGHT), T.c.expires_at <= now).limit(limit))).all())


async def callbacks_due(engine: AsyncEngine, now: int, limit: int) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(
            select(T).where(T.c.callback_state == "pending", T.c.callback_next_at <= now)
            .order_by(T.c.callback_next_at).limit(limit))).all())


async def claim(engine: AsyncEngine, task_id: str, seen: int | None, lease_until: int) -> bool:
    """Take the next poll of a task (several workers poll; one wins each round)."""
    cond = T.c.next_poll_at.is_(None) if seen is None else T.c.next_poll_at == seen
    async with engine.begin() as conn:
        res = await conn.execute(update(T).where(and_(T.c.id == task_id, T.c.state.in_(IN_FLIGHT), cond))
                                 .values(next_poll_at=lease_until))
        return res.rowcount == 1


async def progress(engine: AsyncEngine, task_id: str, **values: Any) -> None:
    async with engine.begin() as conn:
        await conn.execute(update(T).where(T.c.id == task_id, T.c.state.in_(IN_FLIGHT)).values(**values))


async def end(conn: AsyncConnection, row: Any, values: dict[str, Any]) -> bool:
    """Move a task to its terminal state, compared and set: only from the very state the caller read it in
    (in flight, and started upstream or not). False when anything moved it meanwhile: another worker or the
    caller ended it, or the upstream started it (a cancel read before that start must not release it)."""
    res = await conn.execute(update(T).where(
        T.c.id == row.id, T.c.state == row.state, T.c.state.in_(IN_FLIGHT),
        T.c.upstream_started == bool(row.upstream_started)).values(**values))
    return res.rowcount == 1


async def set_values(engine: AsyncEngine, task_id: str, **values: Any) -> None:
    async with engine.begin() as conn:
        await conn.execute(update(T).where(T.c.id == task_id).values(**values))


async def record_delivery(engine: AsyncEngine, task_id: str, attempt: int, host: str, status: int | None,
                          error: str | None, now: int, task_values: dict[str, Any]) -> None:
    async with engine.begin() as conn:
        await conn.execute(t.media_deliveries.insert().values(
            task_id=task_id, attempt=attempt, url_host=host[:255], status=status,
            error=(error or None) and error[:255], created_at=now))
        await conn.execute(update(T).where(T.c.id == task_id).values(**task_values))


async def deliveries(engine: AsyncEngine, task_id: str) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(t.media_deliveries).where(t.media_deliveries.c.task_id == task_id)
                                        .order_by(t.media_deliveries.c.id))).all())


async def poll_all_now(engine: AsyncEngine, now: int) -> None:
    async with engine.begin() as conn:
        await conn.execute(update(T).where(T.c.state.in_(IN_FLIGHT), T.c.next_poll_at > now).values(next_poll_at=now))


async def key_callback(engine: AsyncEngine, key_id: str) -> str | None:
    """The callback URL an operator set for this key, if any."""
    async with engine.connect() as conn:
        return (await conn.execute(select(t.media_key_callbacks.c.callback_url).where(
            t.media_key_callbacks.c.key_id == key_id))).scalar()
