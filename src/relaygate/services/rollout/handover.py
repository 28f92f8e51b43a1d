"""Balance hand-over between the old system and relaygate: every spend counted once, whatever the order;
each owner moved in one transaction with its own hand-over, or not moved at all."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from relaygate.core.clock import iso, now_ms
from relaygate.core.errors import InvalidInput
from relaygate.core.money import format_amount
from relaygate.services.rollout import repo
from relaygate.services.rollout.model import Batch, Member, ledger_request_id, old_user
from relaygate.services.rollout.oldsystem import OldSystem
from relaygate.store import tables as t
from relaygate.store.db import set_meta
from relaygate.store.ledger_repo import append_entries
from relaygate.store.wide import wide_sum

H = t.rollout_handovers
L = t.ledger_entries
OPEN_STATES = ("pending", "writing")  # the old quota may or may not have changed yet
_SEEN = re.compile(r"(?:^| )quota=(-?\d+)")  # "… users.id=7 quota=123 …" in an import entry's ref


async def checkpoint(point: str, owner_id: str) -> None:
    """A named point between the steps of one owner's move ('synced', 'written', 'moved'): nothing happens
    here; the fault tests replace it to fail (or crash) exactly there."""


class NotMoved(Exception):
    """Why one owner did not move, in both languages; one sentence each."""

    def __init__(self, en: str, zh: str) -> None:
        super().__init__(en)
        self.en, self.zh = en, zh


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
    moved: list[str] = field(default_factory=list)  # owners whose move was done with their hand-over
    failed: dict[str, str] = field(default_factory=dict)  # owner -> why it did not move / was not synced
    notes: dict[str, str] = field(default_factory=dict)  # owner -> something worth knowing, not a failure
    fresh: dict[str, str] = field(default_factory=dict)  # failures not recorded before (alert on these)

    def view(self, currency: str) -> dict[str, Any]:
        booked = sum(s.booked for s in self.steps)
        return {"cause": self.cause, "owners": len(self.steps), "booked": booked,
                "booked_text": format_amount(booked, currency),
                "writes": {st: sum(1 for s in self.steps if s.state == st) for st in
                           ("written", "pending", "failed") if any(s.state == st for s in self.steps)},
                "moved": len(self.moved), "failed": self.failed, "notes": self.notes,
                "steps": [s.view(currency) for s in self.steps]}


async def open_owners(conn: AsyncConnection, owners: list[str]) -> dict[str, str]:
    """Owners with a write still open (pending or writing) -> the instruction waiting for them."""
    out: dict[str, str] = {}
    for i in range(0, len(owners), 500):
        for owner_id, note in await conn.execute(select(H.c.owner_id, H.c.note).where(
                H.c.owner_id.in_(owners[i:i + 500]), H.c.state.in_(OPEN_STATES))):
            out[owner_id] = note or ""
    return out


async def _facts(conn: AsyncConnection, owner_id: str) -> tuple[int, int, int, int | None]:
    """Σ import entries, available balance (balance − held), the last hand-over seq, and the old quota as
    relaygate last saw or set it (None when no entry says), for one owner, in the caller's transaction."""
    imported = int((await conn.execute(select(wide_sum(L.c.amount)).where(
        L.c.kind == "import", L.c.owner_id == owner_id))).scalar() or 0)
    bal = (await conn.execute(select(t.balances.c.balance, t.balances.c.held).where(
        t.balances.c.owner_id == owner_id))).first()
    available = int(bal.balance) - int(bal.held) if bal is not None else 0
    seq = int((await conn.execute(select(func.max(H.c.seq)).where(H.c.owner_id == owner_id))).scalar() or 0)
    last = (await conn.execute(select(L.c.request_id, L.c.ref).where(L.c.kind == "import", L.c.owner_id == owner_id)
                               .order_by(L.c.id.desc()).limit(1))).first()
    seen: int | None = None
    if last is not None:
        found = _SEEN.search(last.ref or "")
        if found:
            seen = int(found.group(1))
        else:  # the import half of an old-quota write: the quota it left
            row = (await conn.execute(select(H.c.old_quota, H.c.delta_quota).where(
                H.c.request_id == last.request_id, H.c.kind == "write"))).first()
            if row is not None and row.old_quota is not None:
                seen = int(row.old_quota) + int(row.delta_quota or 0)
    return imported, available, seq, seen


class Handover:
    """The invariant: for every imported owner, the sum of its ``import`` ledger entries equals (in nanos) the
    old system's quota as relaygate last saw or set it. ``migrate import`` keeps the same invariant, so it
    may be re-run at any time. From it:

    - a **sync** reads the old quota Q and books ``nanos(Q) − Σ import`` as one import entry: exactly the
      old system's own movements (its spend, its top-ups) since the last sync, never anything twice;
    - a **write** changes the old quota from Q to Q + d, only if it still reads Q (compare and set), and
      books the pair ``import +nanos(d)`` / ``adjustment −nanos(d)``: the invariant holds and relaygate's
      balance is unchanged, because the money only changes hands.

    An owner whose entries break the invariant (an import capped before balances were exact, an entry
    made by hand) is refused with both figures instead of having the difference booked as spend.

    **One owner at a time, one transaction each**: the sync, the hand-over rows and the owner's move
    (``rollout_members.route``/``step``) commit together, or nothing of them does and the owner is named
    with the reason. With write-old, the old quota is written between two transactions: first the sync
    and the intended write (state ``writing``), then the old database, then the booking of the write
    with the move. A write interrupted there is resolved on the next run by reading the old quota back:
    Q + d means it happened, Q that it did not; anything else is left open for the operator.

    Switch: sync, then (with write-old, or by hand with --freeze) set the old quota to 0 so the old entry
    cannot spend it twice; the old quota is frozen *before* the owner is routed natively, so no moment
    exists where both systems can spend it.
    Rollback: sync, then give the old system what the owner has available here (balance − held, rounded
    down to whole quota units; the remainder stays here and comes back with the next switch), then route
    the owner to the old entry. Without write-old the write is a *pending* instruction for the operator,
    confirmed with ``handover confirm``, which reads the old quota back and refuses a mismatch.
    """

    def __init__(self, engine: AsyncEngine, old: OldSystem, currency: str, lang: str = "en") -> None:
        self.engine = engine
        self.old = old
        self.currency = currency
        self.lang = lang

    def _money(self, nanos: int) -> str:
        return format_amount(nanos, self.currency)

    def _say(self, exc: NotMoved) -> str:
        return exc.zh if self.lang == "zh-CN" else exc.en

    async def run(self, batch: Batch, owners: list[str], cause: str, actor: str, write: str,
                  write_old: bool, quiet: bool = False, move: tuple[str, str] | None = None) -> Result:
        """Sync every owner; then ``write`` = 'freeze' (switch), 'giveback' (rollback) or 'none'; with
        ``move`` = (route, step), move each owner in the transaction that books its hand-over.

        ``quiet`` (the guard's periodic sync) records only owners whose old quota moved."""
        result = Result(cause)
        async with self.engine.connect() as conn:
            members = {o: m for b in await repo.load_batches(conn) for o, m in b.member_rows.items()}
            opened = await _open_rows(conn, sorted(owners))
        users = {o: u for o in owners if (u := old_user(o)) is not None}
        for o in owners:
            if o not in users:
                result.notes[o] = "created in relaygate: nothing in the old system to hand over"
                if move:
                    async with self.engine.begin() as conn:
                        await repo.set_member(conn, o, *move)
                    result.moved.append(o)
        quotas: dict[int, int] = {}
        if users:
            try:
                quotas = await self.old.quotas(sorted({u[1] for u in users.values()}))
            except Exception as exc:
                why = exc.en if isinstance(exc, InvalidInput) else f"{type(exc).__name__}: {exc}"
                for o in users:
                    self._fail(result, o, NotMoved(
                        f"The old database could not be read ({why[:300]}); nothing was changed for this owner.",
                        f"无法读取旧数据库（{why[:300]}）；该负责人未做任何变更。"))
                users = {}
        for o, (tag, uid) in sorted(users.items()):
            try:
                if o in opened:
                    if move is None and opened[o].state == "pending":  # a plain sync waits for the operator
                        result.notes[o] = f"waits for an old-quota change to be confirmed: {opened[o].note}"
                        continue
                    await self._resolve(batch, o, opened[o], quotas.get(uid), actor)
                if uid not in quotas:
                    raise NotMoved(f"users.id={uid} is not in {self.old.name} any more.",
                                   f"users.id={uid} 已不在 {self.old.name} 中。")
                await self._one(batch, result, o, tag, uid, quotas[uid], cause, actor, write, write_old, quiet, move)
            except NotMoved as exc:
                self._fail(result, o, exc)
            except IntegrityError:  # another worker handed this owner over at the same moment (same seq)
                result.notes[o] = "handed over by another process at the same moment; nothing done twice"
            except Exception as exc:  # a database error inside the owner's transaction: rolled back whole
                why = f"{type(exc).__name__}: {str(exc)[:300]}"
                async with self.engine.connect() as conn:
                    writing = (await conn.execute(select(H.c.id).where(
                        H.c.owner_id == o, H.c.state == "writing"))).first() is not None
                interrupted = NotMoved(
                    f"Its move was interrupted after the old quota was written ({why}); the owner was not moved and "
                    "the next run reads the old quota back and finishes it.",
                    f"其移动在写入旧额度后被中断（{why}）；该负责人未移动，下次执行会读回旧额度并完成。")
                rolled_back = NotMoved(f"Its hand-over failed and was rolled back, nothing kept ({why}).",
                                       f"交接失败并已整体回滚，未保留任何变更（{why}）。")
                self._fail(result, o, interrupted if writing else rolled_back)
        await self._record(batch, result, members, move)
        return result

    def _fail(self, result: Result, owner_id: str, exc: NotMoved) -> None:
        result.failed[owner_id] = self._say(exc)

    async def _record(self, batch: Batch, result: Result, members: dict[str, Member],
                      move: tuple[str, str] | None) -> None:
        """Failures on the member rows (shown by status, report, console; alerted once when new); a success
        clears the failure of an owner that is where its batch says."""
        target = batch.target_step
        async with self.engine.begin() as conn:
            for o, why in sorted(result.failed.items()):
                before = members.get(o)
                if before is None:
                    continue
                if before.failure != why:
                    result.fresh[o] = why
                await repo.set_member(conn, o, failure=why)
            done = ({s.owner_id for s in result.steps} | set(result.moved)) - set(result.failed)
            for i in range(0, len(done), 500):  # a failed write that a later run did: no longer open
                await conn.execute(H.update().where(H.c.owner_id.in_(sorted(done)[i:i + 500]),
                                                    H.c.state == "failed").values(state="retried"))
            for o in done:
                m = members.get(o)
                if m is None or not m.failure:
                    continue
                if o in result.moved or (move is None and m.step == target):
                    await repo.set_member(conn, o, failure=None)

    async def _resolve(self, batch: Batch, owner_id: str, row: Any, current: int | None, actor: str) -> None:
        """An open write of an earlier run: a pending one waits for the operator; an interrupted one
        (``writing``) is settled from what the old quota reads now."""
        if row.state == "pending":
            raise NotMoved(f"An earlier old-quota change is not confirmed yet ({row.note}): make it, then run "
                           f"relaygate rollout handover confirm {batch.name} (or --not-applied).",
                           f"之前的旧系统额度变更尚未确认（{row.note}）：请完成后运行 relaygate rollout handover "
                           f"confirm {batch.name}（或加 --not-applied）。")
        before, after = int(row.old_quota), int(row.old_quota) + int(row.delta_quota or 0)
        if current == after:
            async with self.engine.begin() as conn:
                await self._settle(conn, batch, owner_id, row.request_id, "written", actor)
            return
        if current == before:
            async with self.engine.begin() as conn:
                await conn.execute(H.update().where(H.c.id == row.id).values(
                    state="skipped", note=f"{row.note} — not applied: the old quota still read {before}"[:2000],
                    updated_at=now_ms()))
            return
        raise NotMoved(
            f"An old-quota write was interrupted and users.id={row.old_user_id} now reads {current}, neither "
            f"{before} (before it) nor {after} (after it): check it, then run relaygate rollout handover confirm "
            f"{batch.name} (or --not-applied).",
            f"一次旧系统额度写入被中断，users.id={row.old_user_id} 现为 {current}，既不是写入前的 {before} 也不是"
            f"写入后的 {after}：请核对后运行 relaygate rollout handover confirm {batch.name}（或加 --not-applied）。")

    async def _one(self, batch: Batch, result: Result, o: str, tag: str, uid: int, q: int, cause: str, actor: str,
                   write: str, write_old: bool, quiet: bool, move: tuple[str, str] | None) -> None:
        now = now_ms()
        async with self.engine.begin() as conn:
            imported, available, seq, seen = await _facts(conn, o)
            if seen is not None and self.old.nanos(seen) != imported:
                raise NotMoved(
                    f"Its imported balance {self._money(imported)} is not the {self._money(self.old.nanos(seen))} of "
                    f"the old quota {seen} it was imported or last synced at (an import capped before balances were "
                    f"exact, or an entry made by hand): run relaygate migrate import again, then retry; nothing "
                    f"was booked.",
                    f"其导入余额 {self._money(imported)} 与导入或上次同步时的旧额度 {seen}（"
                    f"{self._money(self.old.nanos(seen))}）不符（旧版导入时被截断，或有手工记账）：请重新运行 "
                    f"relaygate migrate import 后重试；未记入任何金额。")
            step = Step(o, uid, q, self.old.nanos(q) - imported)
            rows: list[dict[str, Any]] = []
            if step.booked or not quiet:
                seq += 1
                rid = ledger_request_id(tag, uid, batch.id, seq)
                step.note = (f"read users.id={uid} quota={q} at {iso(now)}; booked {self._money(step.booked)}"
                             " (the old system's own movements since the last sync)")
                rows.append(_row(batch, o, seq, "sync", cause, uid, q, None, step.booked, "done", rid, step.note,
                                 actor, now))
                if step.booked:
                    await append_entries(conn, [_entry(
                        o, "import", step.booked, rid, actor, now,
                        f"Old-system movements since the last sync, booked at {cause} of batch {batch.name}: "
                        f"{self.old.source.name} quota now {q}", f"{self.old.source.kind} users.id={uid} quota={q}")])
            delta = self._delta(write, q, available + step.booked)
            write_rid = None
            if delta:
                seq += 1
                write_rid = ledger_request_id(tag, uid, batch.id, seq)
                step.delta, step.state = delta, "writing" if write_old else "pending"
                step.note = self._instruction(write, uid, q, delta)
                rows.append(_row(batch, o, seq, "write", cause, uid, q, delta, 0, step.state, write_rid, step.note,
                                 actor, now))
            if rows:
                await conn.execute(H.insert(), rows)
                await set_meta(conn, "ledger_version", f"{now}-rollout-{batch.id}")
            if rows or step.booked:
                result.steps.append(step)
            await checkpoint("synced", o)
            if not (delta and write_old):  # nothing to write in the old database: the move goes with it
                if move:
                    await repo.set_member(conn, o, *move)
                    await checkpoint("moved", o)
                    result.moved.append(o)
                return
        assert write_rid is not None and delta is not None
        try:
            applied = await self.old.set_quota(uid, q, q + delta)
        except InvalidInput as exc:
            step.state = "failed"
            async with self.engine.begin() as conn:
                await conn.execute(H.update().where(H.c.request_id == write_rid, H.c.kind == "write").values(
                    state="failed", note=f"{step.note} — FAILED: {exc.en}"[:2000], updated_at=now_ms()))
            raise NotMoved(f"The old quota could not be written ({exc.en[:300]}); the owner was not moved.",
                           f"无法写入旧额度（{exc.zh[:300]}）；该负责人未移动。") from exc
        if not applied:
            step.state = "skipped"
            async with self.engine.begin() as conn:
                await conn.execute(H.update().where(H.c.request_id == write_rid, H.c.kind == "write").values(
                    state="skipped", note=f"{step.note} — not applied: the old quota changed meanwhile"[:2000],
                    updated_at=now_ms()))
            raise NotMoved(f"The old system charged users.id={uid} while it was being moved (it no longer read {q}); "
                           "run the command again.",
                           f"移动期间旧系统对 users.id={uid} 有扣费（已不再是 {q}）；请重新执行该命令。")
        await checkpoint("written", o)
        async with self.engine.begin() as conn:
            await self._settle(conn, batch, o, write_rid, "written", actor)
            if move:
                await repo.set_member(conn, o, *move)
                await checkpoint("moved", o)
        step.state = "written"
        if move:
            result.moved.append(o)

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

    async def confirm(self, batch: Batch, owner: str | None, applied: bool, actor: str,
                      read_old: bool = True) -> dict[str, Any]:
        """The operator did (or did not) make the pending old-quota changes by hand. The old quota is read back
        first: a change said to be made must show (Q + d), one said not to be made must not; a mismatch is
        refused with both values and nothing is recorded for that owner."""
        query = select(H).where(H.c.batch_id == batch.id, H.c.kind == "write", H.c.state.in_(OPEN_STATES))
        if owner:
            query = query.where(H.c.owner_id == owner)
        async with self.engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        current = await self.old.quotas(sorted({int(r.old_user_id) for r in rows})) if rows and read_old else {}
        done: list[str] = []
        refused: dict[str, str] = {}
        for r in rows:
            expected = int(r.old_quota) + int(r.delta_quota or 0)
            reads = current.get(int(r.old_user_id))
            if read_old and reads is None:
                refused[r.owner_id] = self._say(NotMoved(
                    f"users.id={r.old_user_id} is not in {self.old.name} any more.",
                    f"users.id={r.old_user_id} 已不在 {self.old.name} 中。"))
                continue
            if read_old and applied and reads != expected:
                spent = await self._spent_since(int(r.old_user_id), int(r.created_at), expected, reads)
                if spent is None:
                    refused[r.owner_id] = self._say(NotMoved(
                        f"users.id={r.old_user_id} reads {reads} in the old system, but the change makes it "
                        f"{expected} ({r.old_quota} + {r.delta_quota}) and the old logs show no charge that explains "
                        f"the difference: make it read {expected} (less what the old system charged since), then "
                        "confirm again.",
                        f"旧系统中 users.id={r.old_user_id} 为 {reads}，而该变更应使其为 {expected}（{r.old_quota} + "
                        f"{r.delta_quota}），旧系统日志中也没有能解释差额的扣费：请改为 {expected}（减去此后旧系统的"
                        "扣费）后再确认。"))
                    continue  # an explained difference is the old system's spend: the next sync books it
            if read_old and not applied and reads == expected and reads != int(r.old_quota):
                refused[r.owner_id] = self._say(NotMoved(
                    f"users.id={r.old_user_id} reads {reads}, which is what the change makes it (it read "
                    f"{r.old_quota}): it looks applied; confirm without --not-applied.",
                    f"users.id={r.old_user_id} 为 {reads}，正是该变更的结果（变更前为 {r.old_quota}）：看起来已执行；"
                    "请不带 --not-applied 确认。"))
                continue
            async with self.engine.begin() as conn:
                if applied:
                    await self._settle(conn, batch, r.owner_id, r.request_id, "confirmed", actor)
                else:
                    await conn.execute(H.update().where(H.c.id == r.id).values(state="skipped", updated_at=now_ms()))
            done.append(r.owner_id)
        return {"batch": batch.name, "owners": done, "state": "confirmed" if applied else "skipped",
                "refused": refused, "checked": read_old}


    async def _spent_since(self, uid: int, since_ms: int, expected: int, reads: int | None) -> int | None:
        """What the old system charged since the instruction when its logs explain ``expected − reads`` exactly
        (the instruction's second, or the next one, as the start), else None."""
        if reads is None:
            return None
        for since in (since_ms // 1000, since_ms // 1000 + 1):
            spent = await self.old.spent_since(uid, since)
            if spent is None:
                return None
            if spent and expected - spent == reads:
                return spent
        return None


async def _open_rows(conn: AsyncConnection, owners: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i in range(0, len(owners), 500):
        for r in await conn.execute(select(H).where(H.c.owner_id.in_(owners[i:i + 500]),
                                                    H.c.state.in_(OPEN_STATES)).order_by(H.c.id)):
            out[r.owner_id] = r
    return out


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
