"""Holds in the ledger that no running request owns, and the heartbeats that say which processes run.

A ``hold`` row is written for a request still running when the usage writer flushes (long streams);
its ``ref`` names the gateway process (``instance:<id>``). Each process writes a heartbeat to
``meta`` (``instance:<id>`` = epoch ms) every few seconds. A hold is stale when its request has
no ``release`` row and its process is gone: its lock file in this data directory is free, or its
heartbeat is older than the stale age (a process on another machine), or it names no process nor
anything else (a row from before processes were named) and is older than ``UNNAMED_STALE_MS``.
Holds with another ``ref`` (a media task's id) end with what they belong to and are never stale here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import and_, delete, exists, select
from sqlalchemy.ext.asyncio import AsyncConnection

from relaygate.core.clock import now_ms
from relaygate.store import tables as t
from relaygate.store.db import set_meta
from relaygate.store.spool import instance_alive_here

L = t.ledger_entries
PREFIX = "instance:"
UNNAMED_STALE_MS = 3600 * 1000  # a hold from before processes were named: no request runs an hour


@dataclass(frozen=True, slots=True)
class OpenHold:
    request_id: str
    owner_id: str
    key_id: str | None
    model: str | None
    held: int
    created_at: int
    instance: str | None
    ref: str | None = None


async def open_holds(conn: AsyncConnection) -> list[OpenHold]:
    """Every hold row whose request has no release row yet."""
    r = L.alias("r")
    query = select(L.c.request_id, L.c.owner_id, L.c.key_id, L.c.model, L.c.held, L.c.created_at, L.c.ref).where(
        L.c.kind == "hold", ~exists().where(and_(r.c.kind == "release", r.c.request_id == L.c.request_id)))
    out = []
    for row in await conn.execute(query):
        ref = row.ref or ""
        out.append(OpenHold(row.request_id, row.owner_id, row.key_id, row.model, int(row.held), int(row.created_at),
                            ref[len(PREFIX):] if ref.startswith(PREFIX) else None, row.ref))
    return out


async def heartbeats(conn: AsyncConnection) -> dict[str, int]:
    rows = await conn.execute(select(t.meta.c.key, t.meta.c.value).where(t.meta.c.key.like(f"{PREFIX}%")))
    out = {}
    for key, value in rows:
        try:
            out[key[len(PREFIX):]] = int(value)
        except ValueError:
            continue
    return out


async def beat(conn: AsyncConnection, instance: str) -> None:
    await set_meta(conn, f"{PREFIX}{instance}", str(now_ms()))


async def forget(conn: AsyncConnection, instance: str) -> None:
    await conn.execute(delete(t.meta).where(t.meta.c.key == f"{PREFIX}{instance}"))


async def stale_holds(conn: AsyncConnection, *, stale_after_ms: int, spool_dir: Path | None,
                      me: str | None = None) -> list[OpenHold]:
    """Open holds whose process is gone (see the module text); ``me``'s own holds never are."""
    holds = await open_holds(conn)
    if not holds:
        return []
    beats = await heartbeats(conn)
    now = now_ms()
    verdict: dict[str | None, bool] = {}
    out = []
    for hold in holds:
        inst = hold.instance
        if inst == me and me is not None:
            continue
        if inst is None:
            # a hold with another reference has its own end (a media task's, services/media/task_end.py)
            if hold.ref is None and now - hold.created_at > UNNAMED_STALE_MS:
                out.append(hold)
            continue
        dead = verdict.get(inst)
        if dead is None:
            here = instance_alive_here(spool_dir, inst) if spool_dir is not None else None
            dead = verdict[inst] = (not here) if here is not None else now - beats.get(inst, 0) > stale_after_ms
        if dead:
            out.append(hold)
    return out
