"""Moving a batch: switch, observe, roll back, complete; each a recorded transition with its balance hand-over."""

from __future__ import annotations

import asyncio
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
from relaygate.services.rollout.handover import Handover, Result, open_owners
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

    async def _settle_wait(self) -> None:
        """Let every worker pick up the new routing (they poll every config_poll_seconds) before touching quotas."""
        await asyncio.sleep(2 * self.settings.config_poll_seconds)

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
                    values: dict[str, Any], members: frozenset[str] | None = None) -> None:
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
        await self._after()

    async def switch(self, ident: str | int, actor: str, reason: str, write_old: bool | None = None,
                     handover: bool = True, freeze: bool | None = None) -> dict[str, Any]:
        """Move a planned or rolled-back batch to native routing, then hand its balances over.

        ``freeze`` (default: with write-old) sets the old quota to 0; without write-old it becomes a
        pending instruction for the operator, confirmed with ``handover confirm``."""
        async with self.engine.connect() as conn:
            settings = await repo.read_settings(conn)
            batch = await repo.get_batch(conn, ident)
            members = repo.assign(await repo.load_batches(conn), await repo.eligible_owners(conn)).get(batch.id)
            blocked = await open_owners(conn, sorted(members or ()))
        if not settings.active:
            raise InvalidInput("No legacy channel is registered: relaygate rollout legacy set --base-url URL.",
                               "尚未登记旧入口：relaygate rollout legacy set --base-url URL。", status=409)
        if batch.state not in MOVES["switched"]:
            raise _refused(batch, "switched", "切换")
        if not members:
            raise InvalidInput(f"Batch '{batch.name}' selects no owner with imported keys; nothing to switch.",
                               f"批次 '{batch.name}' 没有选中任何拥有导入密钥的负责人，无需切换。", status=409)
        if blocked:
            sample = "; ".join(f"{o}: {n}" for o, n in sorted(blocked.items())[:3])
            raise InvalidInput(
                f"{len(blocked)} owner(s) have an old-quota change not confirmed yet ({sample}). Make it in the old "
                f"system and run: relaygate rollout handover confirm {batch.name} (or --not-applied).",
                f"{len(blocked)} 个负责人的旧系统额度变更尚未确认（{sample}）。请在旧系统中完成后运行："
                f"relaygate rollout handover confirm {batch.name}（或加 --not-applied）。", status=409)
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
            now = now_ms()
            values: dict[str, Any] = {"switches": batch.switches + 1, "switched_at": now}
            if batch.first_switched_at is None:
                values["first_switched_at"] = now
            detail = {"owners": len(members), "switch": batch.switches + 1, "handover": bool(old),
                      "write_old": write, "freeze": freeze}
            await self._move(batch, "switched", actor, reason, detail, values,
                             members if not batch.members else None)
            batch = await self._batch(batch.id)
            result = None
            if old is not None:
                if freeze:
                    await self._settle_wait()
                result = await Handover(self.engine, old, self.settings.currency).run(
                    batch, imported, "switch", actor, "freeze" if freeze else "none", write)
        finally:
            if old is not None:
                await old.close()
        return await self._done(batch, result)

    async def observe(self, ident: str | int, actor: str, reason: str) -> dict[str, Any]:
        batch = await self._batch(ident)
        if batch.state not in MOVES["observing"]:
            raise _refused(batch, "observed", "进入观察")
        await self._move(batch, "observing", actor, reason, {}, {})
        return await self._done(await self._batch(batch.id), None)

    async def rollback(self, ident: str | int, actor: str, reason: str, write_old: bool | None = None
                       ) -> dict[str, Any]:
        """Back to the old entry at once; then hand back what the owners have available here."""
        batch = await self._batch(ident)
        if batch.state not in MOVES["rolled_back"]:
            raise _refused(batch, "rolled back", "回滚")
        now = now_ms()
        if not batch.rollback_open(now):
            raise InvalidInput(
                f"The rollback window of batch '{batch.name}' closed at {iso(batch.deadline())}: rolling back is "
                "refused after the deadline. Fix forward (the cause, a channel, a mapping), then complete the batch.",
                f"批次 '{batch.name}' 的回滚窗口已于 {iso(batch.deadline())} 关闭：截止时间之后不再允许回滚。"
                "请向前修复（原因、渠道或映射），然后完成该批次。", status=409)
        async with self.engine.connect() as conn:
            settings = await repo.read_settings(conn)
        write = settings.write_old if write_old is None else write_old
        detail = {"switch": batch.switches, "write_old": write}
        values = {"rollbacks": batch.rollbacks + 1}
        result = None
        if write:  # give back first, so the old entry never serves these owners from a frozen (zero) quota;
            # a failure is recorded on the hand-over and never stops the rollback
            result = await self._handover(batch, settings, "rollback", actor, "giveback", True, wait=False)
            await self._move(batch, "rolled_back", actor, reason, detail, values)
        else:  # back at once; the give-back becomes a pending instruction for the operator
            await self._move(batch, "rolled_back", actor, reason, detail, values)
            result = await self._handover(batch, settings, "rollback", actor, "giveback", False, wait=False)
        return await self._done(await self._batch(batch.id), result)

    async def complete(self, ident: str | int, actor: str, reason: str) -> dict[str, Any]:
        batch = await self._batch(ident)
        if batch.state not in MOVES["completed"]:
            raise _refused(batch, "completed", "完成")
        await self._move(batch, "completed", actor, reason, {"switch": batch.switches}, {"completed_at": now_ms()})
        batch = await self._batch(batch.id)
        async with self.engine.connect() as conn:
            settings = await repo.read_settings(conn)
        return await self._done(batch, await self._handover(batch, settings, "complete", actor, "none", False,
                                                            wait=False))

    async def sync(self, ident: str | int, actor: str, write_old: bool | None = None) -> dict[str, Any]:
        """Book the old system's movements now; for a rolled-back batch also (re)do the give-back."""
        batch = await self._batch(ident)
        async with self.engine.connect() as conn:
            settings = await repo.read_settings(conn)
        if not settings.source_dsn:
            raise InvalidInput("No old database configured: relaygate rollout legacy set --source DSN.",
                               "尚未配置旧数据库：relaygate rollout legacy set --source DSN。", status=409)
        write = settings.write_old if write_old is None else write_old
        giveback = batch.state == "rolled_back"
        result = await self._handover(batch, settings, "sync", actor, "giveback" if giveback else "none", write,
                                      wait=False)
        return await self._done(batch, result)

    async def confirm(self, ident: str | int, owner: str | None, applied: bool, actor: str) -> dict[str, Any]:
        batch = await self._batch(ident)
        async with self.engine.connect() as conn:
            settings = await repo.read_settings(conn)
        if not settings.source_dsn:
            raise InvalidInput("No old database configured: relaygate rollout legacy set --source DSN.",
                               "尚未配置旧数据库：relaygate rollout legacy set --source DSN。", status=409)
        old = await OldSystem.open(settings.source_dsn, settings.logs_dsn, self.settings)
        try:
            return await Handover(self.engine, old, self.settings.currency).confirm(batch, owner, applied, actor)
        finally:
            await old.close()

    async def _handover(self, batch: Batch, settings: repo.LegacySettings, cause: str, actor: str, write: str,
                        write_old: bool, wait: bool = True) -> Result | None:
        """The hand-over after (or, for a write-old rollback, before) a move. It never undoes the move: when the
        old database fails, the owners are listed as skipped and ``rollout sync`` does it again later."""
        imported = [o for o in sorted(batch.members) if old_user(o) is not None]
        if not imported or not settings.source_dsn:
            return None
        if wait and write_old:
            await self._settle_wait()
        old: OldSystem | None = None
        try:
            old = await self._open_old(settings)
            assert old is not None
            return await Handover(self.engine, old, self.settings.currency).run(batch, imported, cause, actor,
                                                                                write, write_old)
        except Exception as exc:
            why = exc.en if isinstance(exc, InvalidInput) else f"{type(exc).__name__}: {exc}"
            log.warning("rollout %s of %s: hand-over not done: %s", cause, batch.name, why)
            return Result(cause, skipped={o: f"hand-over not done ({why}); run: relaygate rollout sync "
                                             f"{batch.name}" for o in imported})
        finally:
            if old is not None:
                await old.close()

    async def _batch(self, ident: str | int) -> Batch:
        async with self.engine.connect() as conn:
            return await repo.get_batch(conn, ident)

    async def _done(self, batch: Batch, result: Result | None) -> dict[str, Any]:
        async with self.engine.connect() as conn:
            last = (await conn.execute(select(t.rollout_transitions).where(
                t.rollout_transitions.c.batch_id == batch.id).order_by(t.rollout_transitions.c.id.desc()).limit(1)
            )).first()
        return {"batch": batch.name, "state": batch.state, "native": batch.state in NATIVE_STATES,
                "owners": len(batch.members), "switches": batch.switches, "rollbacks": batch.rollbacks,
                "rollback_deadline": iso(batch.deadline()), "rollback_open": batch.rollback_open(now_ms()),
                "last_transition": None if last is None else {
                    "time": iso(last.created_at), "from": last.from_state, "to": last.to_state, "actor": last.actor,
                    "reason": last.reason},
                "handover": None if result is None else result.view(self.settings.currency)}
