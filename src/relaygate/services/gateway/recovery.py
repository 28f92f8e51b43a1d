"""What a dead gateway process left behind: its journalled requests stored, its holds settled or released.

At start (before serving) and then every ``heartbeat_seconds`` this process:

1. writes its heartbeat (``store/holds.py``);
2. claims the spool segments of processes that are gone (their spool lock is free) and stores every
   line: usage records by request id, ledger entries by kind and request id, both idempotent, so a
   line stored before the crash is not stored twice (``store/spool.py``);
3. settles the streams that were running when their process died from their last journalled
   progress (``Spool.watch``: written before the stream's first byte, then group-committed at most
   ``sync_seconds`` behind what it sent): charged for what they had delivered then, a usage record
   with ``gateway_interrupted``, and their hold released if it had become a ledger row (one that
   had not lived only in the dead process's counters, with nothing to release in the ledger);
4. releases the holds that no running request owns and the spool knows nothing of (a process on
   another machine), with a ledger entry saying why and a ``gateway_interrupted`` usage record, so
   no request goes unrecorded.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from relaygate.core.clock import now_ms
from relaygate.store import tables as t
from relaygate.store.counters import CounterStore
from relaygate.store.holds import beat, forget, stale_holds
from relaygate.store.ledger_repo import append_entries
from relaygate.store.repo import insert_usage
from relaygate.store.spool import Spool

log = logging.getLogger("relaygate.recovery")

CHUNK = 500
INTERRUPTED = "gateway_interrupted"


@dataclass
class Recovered:
    records: int = 0  # usage records replayed from dead processes' spools
    entries: int = 0  # ledger entries replayed with them
    checkpointed: int = 0  # streams running at the crash, charged from their last progress line
    released: int = 0  # stale holds released


def release_reason(instance: str | None) -> str:
    who = f"gateway process {instance}" if instance else "a gateway process"
    who_zh = f"网关进程 {instance}" if instance else "某个网关进程"
    return (f"{who} stopped while the request ran (crash or kill); what it delivered is not known, so the "
            f"hold is released and nothing is charged / {who_zh}在请求进行中停止（崩溃或被强制结束）；"
            "无法得知已交付的内容，预留已释放，未扣费")


def settled_reason(instance: str) -> str:
    return (f"gateway process {instance} stopped while the stream ran (crash or kill); charged for what it had "
            f"delivered at its last checkpoint / 网关进程 {instance} 在流式请求进行中停止（崩溃或被强制结束）；"
            "按最后一次记录时已交付的内容扣费")


def interrupted_record(request_id: str, owner_id: str, key_id: str | None, model: str | None, started: int,
                       now: int, *, tokens: tuple[int, int, int] = (0, 0, 0), cost: int = 0,
                       note: str = "hold released at restart") -> dict[str, Any]:
    prompt, completion, cached = tokens
    return {
        "request_id": request_id, "ts": started, "key_id": key_id, "masked_key": None,
        "owner_id": owner_id, "group_name": None, "environment": None, "client": None,
        "client_version": None, "entry_path": None, "host": None, "requested_model": model,
        "upstream_model": None, "channel_id": None, "attempts": 0, "status": 502, "error_code": INTERRUPTED,
        "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
        "cached_tokens": cached, "stream": True, "latency_ms": max(0, min(now - started, 2**31 - 1)),
        "ttft_ms": None, "caller_ip": None, "estimated": True, "cost": cost, "detail": {"recovered": note},
        "body": None, "route": "native",
    }


async def store_lines(conn: AsyncConnection, lines: list[dict[str, Any]]) -> tuple[int, int]:
    """Store journalled lines (idempotent). Returns (records, entries) given to the database."""
    records = [line["r"] for line in lines if isinstance(line.get("r"), dict)]
    entries = [e for line in lines for e in (line.get("l") or ())]
    ids = [r["request_id"] for r in records]
    if ids:  # a placeholder written when the hold was released as stale gives way to the real record
        await conn.execute(delete(t.usage_records).where(t.usage_records.c.request_id.in_(ids),
                                                         t.usage_records.c.error_code == INTERRUPTED))
    release_ids = [e["request_id"] for e in entries if e.get("kind") == "release"]
    if release_ids:  # a release whose hold row never reached the database would free what nobody held
        L = t.ledger_entries
        held = {r[0] for r in await conn.execute(
            select(L.c.request_id).where(L.c.kind == "hold", L.c.request_id.in_(release_ids)))}
        entries = [e for e in entries if e.get("kind") != "release" or e["request_id"] in held]
    await insert_usage(conn, records, dedupe=True)
    await append_entries(conn, entries, dedupe=True)
    return len(records), len(entries)


async def settle_progress(conn: AsyncConnection, instance: str, progress: dict[str, dict[str, Any]],
                          me: str) -> list[tuple[str, int]]:
    """Streams a dead process was running, charged from their last progress line. Returns the
    (request id, cost) settled, for the counters."""
    if not progress:
        return []
    L, U = t.ledger_entries, t.usage_records
    ids = list(progress)
    recorded = {r[0] for r in await conn.execute(select(U.c.request_id).where(U.c.request_id.in_(ids)))}
    kinds: dict[str, dict[str, int]] = {}
    for rid, kind, held in await conn.execute(
            select(L.c.request_id, L.c.kind, L.c.held).where(L.c.request_id.in_(ids))):
        kinds.setdefault(rid, {})[kind] = int(held)
    now = now_ms()
    entries: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = []
    out = []
    for rid, p in progress.items():
        if rid in recorded or "settle" in kinds.get(rid, {}):
            continue  # finished after all (its record came another way)
        base = {"owner_id": p["o"], "key_id": p.get("k"), "request_id": rid, "model": p.get("m"),
                "reason": settled_reason(instance), "actor": "gateway", "ref": f"instance:{me}", "created_at": now}
        mine = kinds.get(rid, {})
        if "hold" in mine and "release" not in mine:
            entries.append({**base, "kind": "release", "amount": 0, "held": -mine["hold"]})
        cost = int(p.get("cost") or 0)
        if cost:
            entries.append({**base, "kind": "settle", "amount": -cost, "held": 0})
        records.append(interrupted_record(rid, p["o"], p.get("k"), p.get("m"), int(p.get("ts") or now), now,
                                          tokens=(int(p.get("pt") or 0), int(p.get("ct") or 0), int(p.get("cc") or 0)),
                                          cost=cost, note="charged from the last checkpoint at restart"))
        out.append((rid, cost))
    await append_entries(conn, entries, dedupe=True)
    await insert_usage(conn, records, dedupe=True)
    return out


class Recovery:
    def __init__(self, engine: AsyncEngine, spool: Spool, *, heartbeat_seconds: float,
                 stale_seconds: float, counters: CounterStore | None = None) -> None:
        self.engine = engine
        self.counters = counters
        self.spool = spool
        self.instance = spool.instance
        self.heartbeat_seconds = heartbeat_seconds
        self.stale_ms = int(stale_seconds * 1000)
        self.total = Recovered()

    async def start(self) -> Recovered:
        async with self.engine.begin() as conn:
            await beat(conn, self.instance)
        done = await self.sweep()
        if done.records or done.released or done.checkpointed:
            log.warning("recovered after a crash: %d usage records and %d ledger entries replayed from the "
                        "spool, %d running streams charged from their last checkpoint, %d stale holds released",
                        done.records, done.entries, done.checkpointed, done.released)
        return done

    async def sweep(self) -> Recovered:
        done = Recovered()
        for orphan in self.spool.claim_orphans():
            lines = [line for line in orphan.lines if "r" in line]
            finished = {line["r"].get("request_id") for line in lines if isinstance(line["r"], dict)}
            progress = {line["p"]: line for line in orphan.lines if "p" in line and isinstance(line.get("o"), str)}
            running = {rid: p for rid, p in progress.items() if rid not in finished}
            async with self.engine.begin() as conn:
                for i in range(0, len(lines), CHUNK):
                    n_records, n_entries = await store_lines(conn, lines[i:i + CHUNK])
                    done.records += n_records
                    done.entries += n_entries
                settled = await settle_progress(conn, orphan.instance, running, self.instance)
                await forget(conn, orphan.instance)  # gone: its holds are stale from now on
            orphan.done()
            done.checkpointed += len(settled)
            for rid, cost in settled:
                await self._counters_end(rid, cost)
        async with self.engine.begin() as conn:
            stale = await stale_holds(conn, stale_after_ms=self.stale_ms, spool_dir=self.spool.directory,
                                      me=self.instance)
            if stale:
                now = now_ms()
                ids = [h.request_id for h in stale]
                recorded = {r[0] for r in await conn.execute(
                    select(t.usage_records.c.request_id).where(t.usage_records.c.request_id.in_(ids)))}
                entries = [{"owner_id": h.owner_id, "key_id": h.key_id, "kind": "release", "amount": 0,
                            "held": -h.held, "request_id": h.request_id, "model": h.model,
                            "reason": release_reason(h.instance), "actor": "gateway",
                            "ref": f"instance:{self.instance}", "created_at": now} for h in stale]
                await append_entries(conn, entries, dedupe=True)
                await insert_usage(conn, [interrupted_record(h.request_id, h.owner_id, h.key_id, h.model, h.created_at,
                                                             now) for h in stale if h.request_id not in recorded],
                                   dedupe=True)
                done.released = len(stale)
        for hold in stale:
            await self._counters_end(hold.request_id, None)
        self.total.records += done.records
        self.total.entries += done.entries
        self.total.checkpointed += done.checkpointed
        self.total.released += done.released
        return done

    async def _counters_end(self, request_id: str, cost: int | None) -> None:
        """Shared counters (Redis) still hold what the dead process held: settle or release it there too."""
        if self.counters is None:
            return
        try:
            if cost is None:
                await self.counters.release(request_id)
            else:
                await self.counters.settle(request_id, cost)
        except Exception as exc:  # it expires after its TTL anyway
            log.warning("hold %s not ended in the counters: %s", request_id, type(exc).__name__)

    async def run(self) -> None:
        """Supervised loop: heartbeat, then what processes that died meanwhile left."""
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            try:
                async with self.engine.begin() as conn:
                    await beat(conn, self.instance)
                done = await self.sweep()
                if done.records or done.released:
                    log.warning("recovered what a stopped process left: %d usage records replayed, %d stale "
                                "holds released", done.records, done.released)
            except Exception as exc:
                log.warning("recovery round skipped: %s", type(exc).__name__)

    async def stop(self) -> None:
        async with self.engine.begin() as conn:
            await forget(conn, self.instance)
