"""Moving a batch: switch, observe, roll back, complete; each a recorded transition with its balance hand-over."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.clock import iso, now_ms
from relaygate.core.errors import InvalidInput
from relaygate.core.settings import Settings
from relaygate.services.rollout import repo
from relaygate.services.rollout.handover import Handover, Result
from relaygate.services.rollout.model import MOVES, NATIVE_STATES, Batch, old_user
from relaygate.services.rollout.oldsystem import OldSystem
from relaygate.store import tables as t

log = logging.getLogger("relaygate.rollout")
B = t.rollout_batches


def _refused(batch: Batch, action: str, action_zh: str) -> InvalidInput:
    return InvalidInput(f"Batch '{batch.name}' is {batch.state}; it cannot be {action} from there.",
                        f"批次 '{batch.name}' 当前状态为 {batch.state}，无法{action_zh}。", status=409)


class Mover:
    """Transitions are compare-and-set updates (``WHERE state IN …``), so two workers' guards or an operator
    and a guard never move one batch twice; the routing of this process is reloaded at once."""

    def __init__(self, engine: AsyncEngine, settings: Settings,
                 reload: Callable[[], Awaitable[None]] | None = None) -> None:
        self.engine = engine
        self.settings = settings
        self.reload = reload

    async def _after(self) -> None:
        if self.reload is not None:
            await self.reload()

    async def _open_old(self, settings: repo.LegacySettings) -> OldSystem | None:
        if not settings.source_dsn:
            return None
        try:
            return await OldSystem.open(settings.source_dsn, settings.logs_dsn, self.settings)
        except InvalidInput:
            raise
        except Exception as exc:  # a driver error: say which database and why, in both languages
            raise InvalidInput(f"Cannot open the old database: {type(exc).__name__}: {exc}",
                               f"无法打开旧数据库：{type(exc).__name__}：{exc}", status=502) from exc

    async def _move(self, batch: Batch, to: str, actor: str, reason: str, detail: dict[str, Any],
                    values: dict[str, Any], members: frozenset[str] | None = None, reload: bool = True) -> None:
        now = now_ms()
        async with self.engine.begin() as conn:
            moved = await conn.execute(B.update().where(B.c.id == batch.id, B.c.state.in_(sorted(MOVES[to])))
                                       .values(state=to, updated_at=now, **values))
            if moved.rowcount == 0:
                current = await repo.get_batch(conn, batch.id)
                raise _refused(current, to.replace("_", " "), f"变为 {to}")
            if members:
                try:
                    await conn.execute(t.rollout_members.insert(), [
                        {"owner_id": o, "batch_id": batch.id, "joined_at": now} for o in sorted(members)])
                except IntegrityError as exc:
                    raise InvalidInput("Another batch took some of these owners meanwhile; run the switch again.",
                                       "其他批次同时占用了部分负责人；请重新执行切换。", status=409) from exc
            await repo.add_transition(conn, batch, to, actor, reason, detail)
            await repo.bump(conn)
        if reload:
            await self._after()

    def _lang(self) -> str:
        return self.settings.lang_code()

    def _pick(self, en: str, zh: str) -> str:
        return zh if self._lang() == "zh-CN" else en

    async def switch(self, ident: str | int, actor: str, reason: str, write_old: bool | None = None,
                     handover: bool = True, freeze: bool | None = None) -> dict[str, Any]:
        """Move a planned or rolled-back batch to native routing, each owner with its hand-over.

        ``freeze`` (default: with write-old) sets the old quota to 0 before the owner is routed natively;
        without write-old it becomes a pending instruction for the operator, confirmed with ``handover
        confirm``. On a switched batch with owners left (a failed or interrupted switch), switching again
        finishes those owners."""
        async with self.engine.connect() as conn:
            settings = await repo.read_settings(conn)
            batch = await repo.get_batch(conn, ident)
            members = repo.assign(await repo.load_batches(conn), await repo.eligible_owners(conn)).get(batch.id)
        if not settings.active:
            raise InvalidInput("No legacy channel is registered: relaygate rollout legacy set --base-url URL.",
                               "尚未登记旧入口：relaygate rollout legacy set --base-url URL。", status=409)
        retry = batch.state in MOVES["observing"] | {"observing"} and bool(batch.left())
        if batch.state not in MOVES["switched"] and not retry:
            raise _refused(batch, "switched", "切换")
        if not members:
            raise InvalidInput(f"Batch '{batch.name}' selects no owner with imported keys; nothing to switch.",
                               f"批次 '{batch.name}' 没有选中任何拥有导入密钥的负责人，无需切换。", status=409)
        write = settings.write_old if write_old is None else write_old
        freeze = write if freeze is None else freeze
        imported = [o for o in sorted(members) if old_user(o) is not None]
        old = await self._open_old(settings) if handover and imported else None
        if handover and imported and old is None:
            raise InvalidInput(
                "Switching needs the old database to hand balances over: relaygate rollout legacy set --source DSN "
                "(or pass --no-handover to switch without booking the old system's spend since the import).",
                "切换需要读取旧数据库以交接余额：relaygate rollout legacy set --source DSN"
                "（或加 --no-handover，在不记入导入后旧系统消费的情况下切换）。", status=409)
        try:
            if old is not None:
                await old.quotas([u[1] for o in imported[:1] if (u := old_user(o))])  # fails now if unreachable
            if not retry:
                now = now_ms()
                values: dict[str, Any] = {"switches": batch.switches + 1, "switched_at": now}
                if batch.first_switched_at is None:
                    values["first_switched_at"] = now
                detail = {"owners": len(members), "switch": batch.switches + 1, "handover": bool(old),
                          "write_old": write, "freeze": freeze}
                await self._move(batch, "switched", actor, reason, detail, values,
                                 members if not batch.members else None, reload=False)
            batch = await self._batch(batch.id)
            result = await self._owners(batch, batch.left(), "switch", actor, "freeze" if freeze else "none",
                                        write, old, ("native", "switch"))
        finally:
            if old is not None:
                await old.close()
        await self._after()
        return await self._done(await self._batch(batch.id), result)

    async def observe(self, ident: str | int, actor: str, reason: str) -> dict[str, Any]:
        batch = await self._batch(ident)
        if batch.state not in MOVES["observing"]:
            raise _refused(batch, "observed", "进入观察")
        await self._move(batch, "observing", actor, reason, {}, {})
        return await self._done(await self._batch(batch.id), None)

    async def rollback(self, ident: str | int, actor: str, reason: str, write_old: bool | None = None
                       ) -> dict[str, Any]:
        """Back to the old entry, each owner with its give-back (given back before the owner is routed to the old
        entry, so it never serves a frozen quota). Rolling back a rolled-back batch again finishes the owners
        whose move failed."""
        batch = await self._batch(ident)
        retry = batch.state == "rolled_back" and bool(batch.left())
        if batch.state not in MOVES["rolled_back"] and not retry:
            raise _refused(batch, "rolled back", "回滚")
        now = now_ms()
        if not retry and not batch.rollback_open(now):
            raise InvalidInput(
                f"The rollback window of batch '{batch.name}' closed at {iso(batch.deadline())}: rolling back is "
                "refused after the deadline. Fix forward (the cause, a channel, a mapping), then complete the batch.",
                f"批次 '{batch.name}' 的回滚窗口已于 {iso(batch.deadline())} 关闭：截止时间之后不再允许回滚。"
                "请向前修复（原因、渠道或映射），然后完成该批次。", status=409)
        async with self.engine.connect() as conn:
            settings = await repo.read_settings(conn)
        write = settings.write_old if write_old is None else write_old
        if not retry:
            await self._move(batch, "rolled_back", actor, reason, {"switch": batch.switches, "write_old": write},
                             {"rollbacks": batch.rollbacks + 1}, reload=False)
        batch = await self._batch(batch.id)
        result = await self._handover(batch, settings, batch.left(), "rollback", actor, "giveback", write,
                                      ("legacy", "rollback"))
        await self._after()
        return await self._done(await self._batch(batch.id), result)

    async def complete(self, ident: str | int, actor: str, reason: str) -> dict[str, Any]:
        batch = await self._batch(ident)
        retry = batch.state == "completed" and bool(batch.left())
        if batch.state not in MOVES["completed"] and not retry:
            raise _refused(batch, "completed", "完成")
        unswitched = [o for o in batch.left() if batch.member_rows[o].route != "native"] if not retry else []
        if unswitched:
            sample = ", ".join(unswitched[:5])
            raise InvalidInput(
                f"{len(unswitched)} owner(s) of batch '{batch.name}' have not moved yet ({sample}): finish the switch "
                f"first (relaygate rollout switch {batch.name}), or roll the batch back.",
                f"批次 '{batch.name}' 有 {len(unswitched)} 个负责人尚未移动（{sample}）：请先完成切换"
                f"（relaygate rollout switch {batch.name}），或回滚该批次。", status=409)
        if not retry:
            await self._move(batch, "completed", actor, reason, {"switch": batch.switches},
                             {"completed_at": now_ms()}, reload=False)
        batch = await self._batch(batch.id)
        async with self.engine.connect() as conn:
            settings = await repo.read_settings(conn)
        result = await self._handover(batch, settings, batch.left(), "complete", actor, "none", False,
                                      ("native", "complete"))
        await self._after()
        return await self._done(await self._batch(batch.id), result)

    async def sync(self, ident: str | int, actor: str, write_old: bool | None = None) -> dict[str, Any]:
        """Book the old system's movements now; for a rolled-back batch also (re)do the give-back and finish the
        owners whose rollback failed."""
        batch = await self._batch(ident)
        async with self.engine.connect() as conn:
            settings = await repo.read_settings(conn)
        if not settings.source_dsn:
            raise InvalidInput("No old database configured: relaygate rollout legacy set --source DSN.",
                               "尚未配置旧数据库：relaygate rollout legacy set --source DSN。", status=409)
        write = settings.write_old if write_old is None else write_old
        if batch.state == "rolled_back":
            result = await self._handover(batch, settings, sorted(batch.members), "sync", actor, "giveback", write,
                                          ("legacy", "rollback"))
            await self._after()
        else:
            result = await self._handover(batch, settings, sorted(batch.members), "sync", actor, "none", write, None)
        return await self._done(await self._batch(batch.id), result)

    async def confirm(self, ident: str | int, owner: str | None, applied: bool, actor: str) -> dict[str, Any]:
        """Record the operator's old-quota changes; the old quota is read back first and a mismatch refused."""
        batch = await self._batch(ident)
        async with self.engine.connect() as conn:
            settings = await repo.read_settings(conn)
        if not settings.source_dsn:
            raise InvalidInput("No old database configured: relaygate rollout legacy set --source DSN.",
                               "尚未配置旧数据库：relaygate rollout legacy set --source DSN。", status=409)
        old = await self._open_old(settings)
        assert old is not None
        try:
            view = await Handover(self.engine, old, self.settings.currency, self._lang()).confirm(
                batch, owner, applied, actor)
        finally:
            await old.close()
        if view["refused"] and not view["owners"]:
            sample = " ".join(f"{o}: {why}" for o, why in sorted(view["refused"].items())[:3])
            raise InvalidInput(f"Nothing confirmed. {sample}", f"未确认任何变更。{sample}", status=409)
        return view

    async def _owners(self, batch: Batch, owners: list[str], cause: str, actor: str, write: str, write_old: bool,
                      old: OldSystem | None, move: tuple[str, str]) -> Result:
        """Move these owners: with their hand-over when the old database is open, else just their route."""
        if old is not None:
            result = await Handover(self.engine, old, self.settings.currency, self._lang()).run(
                batch, owners, cause, actor, write, write_old, move=move)
        else:
            result = Result(cause)
            async with self.engine.begin() as conn:
                for o in owners:
                    await repo.set_member(conn, o, *move)
                    result.moved.append(o)
        await self.alert_failures(batch, result)
        return result

    async def _handover(self, batch: Batch, settings: repo.LegacySettings, owners: list[str], cause: str,
                        actor: str, write: str, write_old: bool, move: tuple[str, str] | None) -> Result | None:
        """Owners moved (or synced, without ``move``) with their hand-over. When the old database cannot be
        opened, every owner that needs it fails by name and stays where it is; a retry finishes them."""
        if not owners:
            return None if not move else Result(cause)
        needs_old = [o for o in owners if old_user(o) is not None]
        if not settings.source_dsn or not needs_old:
            if move is None:
                return None
            return await self._owners(batch, owners, cause, actor, write, write_old, None, move)
        old: OldSystem | None = None
        try:
            old = await self._open_old(settings)
        except InvalidInput as exc:
            result = Result(cause)
            for o in needs_old:
                result.failed[o] = self._pick(f"The old database could not be opened ({exc.en[:300]}); nothing was "
                                              "changed for this owner.",
                                              f"无法打开旧数据库（{exc.zh[:300]}）；该负责人未做任何变更。")
            if move:
                free = [o for o in owners if o not in needs_old]
                if free:
                    result.moved += (await self._owners(batch, free, cause, actor, write, write_old, None, move)).moved
            async with self.engine.connect() as conn:
                members = {o: m for b in await repo.load_batches(conn) for o, m in b.member_rows.items()}
            async with self.engine.begin() as conn:
                for o, why in result.failed.items():
                    if o in members and members[o].failure != why:
                        result.fresh[o] = why
                    await repo.set_member(conn, o, failure=why)
            await self.alert_failures(batch, result)
            return result
        assert old is not None
        try:
            result = await Handover(self.engine, old, self.settings.currency, self._lang()).run(
                batch, owners, cause, actor, write, write_old, move=move)
        finally:
            await old.close()
        await self.alert_failures(batch, result)
        return result

    async def alert_failures(self, batch: Batch, result: Result) -> None:
        """Each new hand-over failure: one alert event (and the log), in the operator's language."""
        if not result.fresh:
            return
        n = len(result.fresh)
        sample = " ".join(f"{o}: {why}" for o, why in sorted(result.fresh.items())[:5])
        message = self._pick(
            f"Rollout batch '{batch.name}': the {result.cause} hand-over of {n} owner(s) failed; they stay where they "
            f"were. {sample}", f"灰度批次 '{batch.name}'：{n} 个负责人的{result.cause}交接失败，保持原状。{sample}")
        log.warning("%s", message)
        async with self.engine.begin() as conn:
            await conn.execute(t.alert_events.insert().values(
                rule_id=0, scope="rollout", target=batch.name[:32], kind="rollout_handover", message=message[:4000],
                value=n, delivered=False, created_at=now_ms()))

    async def _batch(self, ident: str | int) -> Batch:
        async with self.engine.connect() as conn:
            return await repo.get_batch(conn, ident)

    async def _done(self, batch: Batch, result: Result | None) -> dict[str, Any]:
        async with self.engine.connect() as conn:
            last = (await conn.execute(select(t.rollout_transitions).where(
                t.rollout_transitions.c.batch_id == batch.id).order_by(t.rollout_transitions.c.id.desc()).limit(1)
            )).first()
        left = batch.left()
        return {"batch": batch.name, "state": batch.state, "native": batch.state in NATIVE_STATES,
                "owners": len(batch.members), "left": left, "failures": batch.failures(), "complete": not left,
                "switches": batch.switches, "rollbacks": batch.rollbacks,
                "rollback_deadline": iso(batch.deadline()), "rollback_open": batch.rollback_open(now_ms()),
                "last_transition": None if last is None else {
                    "time": iso(last.created_at), "from": last.from_state, "to": last.to_state, "actor": last.actor,
                    "reason": last.reason},
                "handover": None if result is None else result.view(self.settings.currency)}
