"""What a dead gateway process left behind: its journalled requests stored, its holds settled or released.

At start (before serving) and then every ``heartbeat_seconds`` this process:

1. writes its heartbeat (``store/holds.py``);
2. claims the spool segments of processes that are gone (their spool lock is free) and stores every
   line: usage records by request id, ledger entries by kind and request id, both idempotent, so a
   line stored before the crash is not stored twice (``store/spool.py``);
3. releases the holds that no running request owns: a request the spool finished was settled in
   step 2 (its ``release`` and ``settle`` rows came with it); any other was running when its
   process died, so nothing it delivered is known. Its hold is released with a ledger entry saying
   why, and it gets a usage record (``gateway_interrupted``), so no request goes unrecorded.
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
from relaygate.store.holds import OpenHold, beat, forget, stale_holds
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
    released: int = 0  # stale holds released


def release_reason(instance: str | None) -> str:
    who = f"gateway process {instance}" if instance else "a gateway process"
    who_zh = f"网关进程 {instance}" if instance else "某个网关进程"
    return (f"{who} stopped while the request ran (crash or kill); what it delivered is not known, so the "
            f"hold is released and nothing is charged / {who_zh}在请求进行中停止（崩溃或被强制结束）；"
            "无法得知已交付的内容，预留已释放，未扣费")


def interrupted_record(hold: OpenHold, now: int) -> dict[str, Any]:
    return {
        "request_id": hold.request_id, "ts": hold.created_at, "key_id": hold.key_id, "masked_key": None,
        "owner_id": hold.owner_id, "group_name": None, "environment": None, "client": None,
        "client_version": None, "entry_path": None, "host": None, "requested_model": hold.model,
        "upstream_model": None, "channel_id": None, "attempts": 0, "status": 502, "error_code": INTERRUPTED,
        "prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "cached_tokens": 0, "stream": False,
        "latency_ms": max(0, min(now - hold.created_at, 2**31 - 1)), "ttft_ms": None, "caller_ip": None,
        "estimated": True, "cost": 0, "detail": {"recovered": "hold released at restart"}, "body": None,
        "route": "native",
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


class Recovery:
    def __init__(self, engine: AsyncEngine, spool: Spool, *, heartbeat_seconds: float,
                 stale_seconds: float) -> None:
        self.engine = engine
        self.spool = spool
        self.instance = spool.instance
        self.heartbeat_seconds = heartbeat_seconds
        self.stale_ms = int(stale_seconds * 1000)
        self.total = Recovered()

    async def start(self) -> Recovered:
        async with self.engine.begin() as conn:
            await beat(conn, self.instance)
        done = await self.sweep()
        if done.records or done.released:
            log.warning("recovered after a crash: %d usage records and %d ledger entries replayed from the "
                        "spool, %d stale holds released", done.records, done.entries, done.released)
        return done

    async def sweep(self) -> Recovered:
        done = Recovered()
        for orphan in self.spool.claim_orphans():
            lines = orphan.lines
            async with self.engine.begin() as conn:
                for i in range(0, len(lines), CHUNK):
                    n_records, n_entries = await store_lines(conn, lines[i:i + CHUNK])
                    done.records += n_records
                    done.entries += n_entries
                await forget(conn, orphan.instance)  # gone: its holds are stale from now on
            orphan.done()
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
                await insert_usage(conn, [interrupted_record(h, now) for h in stale if h.request_id not in recorded],
                                   dedupe=True)
                done.released = len(stale)
        self.total.records += done.records
        self.total.entries += done.entries
        self.total.released += done.released
        return done

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
