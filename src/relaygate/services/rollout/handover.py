"""Balance hand-over between the old system and relaygate: every spend counted once, whatever the order."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from relaygate.core.clock import iso, now_ms
from relaygate.core.errors import InvalidInput
from relaygate.core.money import format_amount
from relaygate.services.rollout.model import Batch, ledger_request_id, old_user
from relaygate.services.rollout.oldsystem import OldSystem
from relaygate.store import tables as t
from relaygate.store.db import set_meta
from relaygate.store.ledger_repo import append_entries
from relaygate.store.wide import wide_sum

H = t.rollout_handovers
L = t.ledger_entries
OPEN_STATES = ("pending", "writing")  # the old quota may or may not have changed yet


@dataclass(slots=True)
class Step:
    owner_id: str
    old_user_id: int
    old_quota: int | None = None
    booked: int = 0
    delta: int | None = None
    state: str = "done"
    note: str = ""

    def view(self, currency: str) -> dict[str, Any]:
        return {"owner_id": self.owner_id, "old_user_id": self.old_user_id, "old_quota": self.old_quota,
                "booked": self.booked, "booked_text": format_amount(self.booked, currency),
                "old_delta": self.delta, "state": self.state, "note": self.note}


@dataclass(slots=True)
class Result:
    cause: str
    steps: list[Step] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # owner -> why

    def view(self, currency: str) -> dict[str, Any]:
        booked = sum(s.booked for s in self.steps)
        return {"cause": self.cause, "owners": len(self.steps), "booked": booked,
                "booked_text": format_amount(booked, currency),
                "writes": {st: sum(1 for s in self.steps if s.state == st) for st in
                           ("written", "pending", "failed") if any(s.state == st for s in self.steps)},
                "skipped": self.skipped, "steps": [s.view(currency) for s in self.steps]}


async def open_owners(conn: AsyncConnection, owners: list[str]) -> dict[str, str]:
    """Owners with a write still open (pending or writing) -> the instruction waiting for them."""
    out: dict[str, str] = {}
    for i in range(0, len(owners), 500):
        for owner_id, note in await conn.execute(select(H.c.owner_id, H.c.note).where(
                H.c.owner_id.in_(owners[i:i + 500]), H.c.state.in_(OPEN_STATES))):
            out[owner_id] = note or ""
    return out


async def _sums(conn: AsyncConnection, owners: list[str]) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """Σ import entries, available balance (balance − held) and the last hand-over seq, per owner."""
    imported: dict[str, int] = {}
    available: dict[str, int] = {}
    seqs: dict[str, int] = {}
    for i in range(0, len(owners), 500):
        part = owners[i:i + 500]
        imported.update({r[0]: int(r[1] or 0) for r in await conn.execute(
            select(L.c.owner_id, wide_sum(L.c.amount)).where(L.c.kind == "import", L.c.owner_id.in_(part))
            .group_by(L.c.owner_id))})
        available.update({r[0]: int(r[1]) - int(r[2]) for r in await conn.execute(
            select(t.balances.c.owner_id, t.balances.c.balance, t.balances.c.held)
            .where(t.balances.c.owner_id.in_(part)))})
        seqs.update({r[0]: int(r[1] or 0) for r in await conn.execute(
            select(H.c.owner_id, func.max(H.c.seq)).where(H.c.owner_id.in_(part)).group_by(H.c.owner_id))})
    return imported, available, seqs


class Handover:
    """The invariant: for every imported owner, the sum of its ``import`` ledger entries equals (in nanos) the
    old system's quota as relaygate last saw or set it. ``migrate import`` keeps the same invariant, so it
    may be re-run at any time. From it:

    - a **sync** reads the old quota Q and books ``nanos(Q) − Σ import`` as one import entry: exactly the
      old system's own movements (its spend, its top-ups) since the last sync, never anything twice;
    - a **write** changes the old quota by d (relative ``quota = quota + d``) and books the pair
      ``import +nanos(d)`` / ``adjustment −nanos(d)``: the invariant holds and relaygate's balance is
      unchanged, because the money only changes hands.

    Switch: sync, then (with write-old, or by hand with --freeze) set the old quota to 0 so the old entry
    cannot spend it twice.
    Rollback: sync, then give the old system what the owner has available here (balance − held, rounded
    down to whole quota units; the remainder stays here and comes back with the next switch). Without
    write-old the write is a *pending* instruction for the operator, confirmed with ``handover confirm``;
    syncs of an owner wait until its pending write is confirmed or declared not applied.
    """

    def __init__(self, engine: AsyncEngine, old: OldSystem, currency: str) -> None:
        self.engine = engine
        self.old = old
        self.currency = currency

    def _money(self, nanos: int) -> str:
        return format_amount(nanos, self.currency)

    async def run(self, batch: Batch, owners: list[str], cause: str, actor: str, write: str,
                  write_old: bool, quiet: bool = False) -> Result:
        """Sync every owner; then ``write`` = 'freeze' (switch), 'giveback' (rollback) or 'none'.

        ``quiet`` (the guard's periodic sync) records only owners whose old quota moved."""
        result = Result(cause)
        users = {o: u for o in owners if (u := old_user(o)) is not None}
        for o in owners:
            if o not in users:
                result.skipped[o] = "created in relaygate: nothing in the old system to hand over"
        async with self.engine.connect() as conn:
            blocked = await open_owners(conn, sorted(users))
        for o, note in blocked.items():
            result.skipped[o] = f"an earlier old-quota change is not confirmed yet: {note}"
        todo = {o: u for o, u in users.items() if o not in blocked}
        if not todo:
            return result
        quotas = await self.old.quotas(sorted({u[1] for u in todo.values()}))
        for o, (_, uid) in list(todo.items()):
            if uid not in quotas:
                result.skipped[o] = f"users.id={uid} is not in {self.old.name} any more"
                del todo[o]
        now = now_ms()
        writes: dict[str, tuple[Step, str, int]] = {}
        async with self.engine.begin() as conn:
            imported, available, seqs = await _sums(conn, sorted(todo))
            entries: list[dict[str, Any]] = []
            rows: list[dict[str, Any]] = []
            for o, (tag, uid) in sorted(todo.items()):
                q = quotas[uid]
                step = Step(o, uid, q, self.old.nanos(q) - imported.get(o, 0))
                seq = seqs.get(o, 0)
                if step.booked or not quiet:
                    seq += 1
                    rid = ledger_request_id(tag, uid, batch.id, seq)
                    step.note = (f"read users.id={uid} quota={q} at {iso(now)}; booked {self._money(step.booked)}"
                                 " (the old system's own movements since the last sync)")
                    rows.append(_row(batch, o, seq, "sync", cause, uid, q, None, step.booked, "done", rid,
                                     step.note, actor, now))
                    if step.booked:
                        entries.append(_entry(o, "import", step.booked, rid, actor, now,
                                              f"Old-system movements since the last sync, booked at {cause} of "
                                              f"batch {batch.name}: {self.old.source.name} quota now {q}",
                                              f"{self.old.source.kind} users.id={uid} quota={q}"))
                    result.steps.append(step)
                delta = self._delta(write, q, available.get(o, 0) + step.booked)
                if delta:
                    seq += 1
                    rid = ledger_request_id(tag, uid, batch.id, seq)
                    state = "writing" if write_old else "pending"
                    note = self._instruction(write, uid, q, delta)
                    rows.append(_row(batch, o, seq, "write", cause, uid, q, delta, 0, state, rid, note, actor, now))
                    if step not in result.steps:
                        result.steps.append(step)
                    step.delta, step.state, step.note = delta, state, note
                    writes[o] = (step, rid, uid)
            if rows:
                await conn.execute(H.insert(), rows)
            if entries:
                await append_entries(conn, entries)
                await set_meta(conn, "ledger_version", f"{now}-rollout-{batch.id}")
        if write_old and writes:
            await self._write(batch, writes, actor)
        return result

    def _delta(self, write: str, quota: int, available: int) -> int:
        if write == "freeze":
            return -quota if quota > 0 else 0
        if write == "giveback":
            return self.old.quota_floor(available) - quota
        return 0

    def _instruction(self, write: str, uid: int, quota: int, delta: int) -> str:
        what = ("freeze: the owner's money is now in relaygate" if write == "freeze" else
                "give back what the owner has available in relaygate")
        return (f"{self.old.source.name} users.id={uid}: add {delta} to the quota ({what}); it read {quota}, "
                f"so it should read {quota + delta} unless the old system charged it meanwhile")

    async def _write(self, batch: Batch, writes: dict[str, tuple[Step, str, int]], actor: str) -> None:
        try:
            await self.old.add_quota({uid: step.delta or 0 for step, _, uid in writes.values()})
        except InvalidInput as exc:
            async with self.engine.begin() as conn:
                for step, rid, _ in writes.values():
                    step.state = "failed"
                    await conn.execute(H.update().where(H.c.request_id == rid, H.c.kind == "write").values(
                        state="failed", note=f"{step.note} — FAILED: {exc.en}"[:2000], updated_at=now_ms()))
            return
        async with self.engine.begin() as conn:
            for step, rid, _ in writes.values():
                step.state = "written"
                await self._settle(conn, batch, step.owner_id, rid, "written", actor)

    async def _settle(self, conn: AsyncConnection, batch: Batch, owner_id: str, rid: str, state: str,
                      actor: str) -> int:
        """A write that happened: mark it and book the import/adjustment pair (net zero here)."""
        row = (await conn.execute(select(H).where(H.c.request_id == rid, H.c.kind == "write"))).first()
        if row is None or row.state not in OPEN_STATES:
            return 0
        now = now_ms()
        amount = self.old.nanos(row.old_quota + row.delta_quota) - self.old.nanos(row.old_quota)
        ref = f"{self.old.source.kind} users.id={row.old_user_id} quota+={row.delta_quota}"
        side = "to" if amount > 0 else "from"
        await append_entries(conn, [
            _entry(owner_id, "import", amount, rid, actor, now,
                   f"Old quota changed by {row.delta_quota} at {row.cause} of batch {batch.name}", ref),
            _entry(owner_id, "adjustment", -amount, rid, actor, now,
                   f"Balance moved {side} the old system at {row.cause} of batch {batch.name} "
                   f"({self._money(abs(amount))}); nothing spent", ref)])
        await conn.execute(H.update().where(H.c.id == row.id).values(state=state, amount=amount, updated_at=now))
        await set_meta(conn, "ledger_version", f"{now}-rollout-{batch.id}")
        return amount

    async def confirm(self, batch: Batch, owner: str | None, applied: bool, actor: str) -> dict[str, Any]:
        """The operator did (or did not) make the pending old-quota changes by hand."""
        done: list[str] = []
        async with self.engine.begin() as conn:
            query = select(H.c.owner_id, H.c.request_id).where(H.c.batch_id == batch.id, H.c.kind == "write",
                                                               H.c.state.in_(OPEN_STATES))
            if owner:
                query = query.where(H.c.owner_id == owner)
            for owner_id, rid in (await conn.execute(query)).all():
                if applied:
                    await self._settle(conn, batch, owner_id, rid, "confirmed", actor)
                else:
                    await conn.execute(H.update().where(H.c.request_id == rid, H.c.kind == "write").values(
                        state="skipped", updated_at=now_ms()))
                done.append(owner_id)
        return {"batch": batch.name, "owners": done, "state": "confirmed" if applied else "skipped"}


def _row(batch: Batch, owner_id: str, seq: int, kind: str, cause: str, uid: int, quota: int, delta: int | None,
         amount: int, state: str, rid: str, note: str, actor: str, now: int) -> dict[str, Any]:
    return {"batch_id": batch.id, "owner_id": owner_id, "seq": seq, "kind": kind, "cause": cause, "old_user_id": uid,
            "old_quota": quota, "delta_quota": delta, "amount": amount, "state": state, "request_id": rid,
            "note": note[:2000], "actor": actor[:128], "created_at": now, "updated_at": now}


def _entry(owner_id: str, kind: str, amount: int, rid: str, actor: str, now: int, reason: str,
           ref: str) -> dict[str, Any]:
    return {"owner_id": owner_id, "key_id": None, "kind": kind, "amount": amount, "held": 0, "request_id": rid,
            "model": None, "reason": reason, "actor": actor[:128], "ref": ref[:255], "created_at": now}


async def handover_rows(engine: AsyncEngine, batch_id: int | None = None, open_only: bool = False,
                        limit: int = 1000) -> list[dict[str, Any]]:
    query = select(H).order_by(H.c.id.desc()).limit(limit)
    if batch_id is not None:
        query = query.where(H.c.batch_id == batch_id)
    if open_only:
        query = query.where(H.c.state.in_((*OPEN_STATES, "failed")))
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [{"id": r.id, "batch_id": r.batch_id, "owner_id": r.owner_id, "seq": r.seq, "kind": r.kind,
             "cause": r.cause, "old_user_id": r.old_user_id, "old_quota": r.old_quota, "old_delta": r.delta_quota,
             "amount": r.amount, "state": r.state, "request_id": r.request_id, "note": r.note, "actor": r.actor,
             "time": iso(r.created_at)} for r in rows]
