"""The legacy channel and planning batches: settings, selectors, deadlines, conditions; status views."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.clock import iso, now_ms
from relaygate.core.errors import InvalidInput
from relaygate.core.settings import Settings
from relaygate.services.rollout import repo
from relaygate.services.rollout.model import (
    DEFAULT_CONDITIONS,
    NATIVE_STATES,
    Batch,
    Condition,
    Selector,
)
from relaygate.store import tables as t

DEFAULT_CHECKLIST = (
    ("docs", "Old documents and wiki pages that give the old base URL", "文档：仍写着旧 Base URL 的文档和 wiki 页面"),
    ("screenshots", "Configuration screenshots showing the old entry", "截图：显示旧入口的配置截图"),
    ("macros", "Support macros and reply templates naming the old entry", "客服话术：提到旧入口的客服宏和回复模板"),
    ("base_url", "The old base URL itself: switch it off once residual traffic is zero",
     "旧 Base URL 本身：残留流量归零后下线"),
)


def _selector(owners: list[str] | None, keys: list[str] | None, environments: list[str] | None,
              percent: float | None, rest: bool) -> Selector:
    if percent is not None and not 0 < percent <= 100:
        raise InvalidInput("--percent takes a number above 0 and at most 100.", "--percent 必须大于 0 且不超过 100。")
    sel = Selector(tuple(owners or ()), tuple(keys or ()), tuple(environments or ()), percent, rest)
    if sel.empty:
        raise InvalidInput("A batch needs owners, keys, environments, a percent, or --rest to say who it takes.",
                           "批次需要指定负责人、密钥、环境、百分比或 --rest 来说明包含哪些用户。")
    return sel


class Planner:
    """Operator actions that do not move money: the legacy channel, batch plans, and the status views."""

    def __init__(self, engine: AsyncEngine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings

    async def legacy(self) -> dict[str, Any]:
        async with self.engine.connect() as conn:
            settings = await repo.read_settings(conn)
            owners = await repo.eligible_owners(conn)
            native = repo.native_owners(await repo.load_batches(conn))
        return {**settings.view(), "imported_owners": len(owners),
                "native_owners": len(native & set(owners)), "legacy_owners": len(set(owners) - native)}

    async def set_legacy(self, actor: str, base_url: str | None = None, unknown_keys: str | None = None,
                         source: str | None = None, logs_source: str | None = None, write_old: bool | None = None,
                         guard_seconds: float | None = None) -> dict[str, Any]:
        values: dict[str, Any] = {"updated_by": actor}
        if base_url is not None:
            if not base_url.startswith(("http://", "https://")):
                raise InvalidInput(f"'{base_url}' is not a base URL: give the old entry's root, e.g. "
                                   "http://old-gateway:3000 (without /v1).",
                                   f"'{base_url}' 不是有效的 Base URL：请填写旧入口的根地址，"
                                   "例如 http://old-gateway:3000（不带 /v1）。")
            values["base_url"] = base_url.rstrip("/").removesuffix("/v1")
        if unknown_keys is not None:
            if unknown_keys not in ("legacy", "reject"):
                raise InvalidInput("--unknown-keys takes legacy or reject.", "--unknown-keys 只能是 legacy 或 reject。")
            values["unknown_keys"] = unknown_keys
        if source is not None:
            values["source_dsn"] = await _checked_dsn(source, logs_source) if source else None
        if logs_source is not None:
            from relaygate.services.migration.dsn import plan_dsn

            values["logs_dsn"] = plan_dsn(logs_source) if logs_source else None
        if write_old is not None:
            values["write_old"] = write_old
        if guard_seconds is not None:
            if guard_seconds <= 0:
                raise InvalidInput("--guard-seconds must be positive.", "--guard-seconds 必须为正数。")
            values["guard_seconds"] = guard_seconds
        async with self.engine.begin() as conn:
            was = await repo.read_settings(conn)
            if not was.active and "base_url" not in values:
                raise InvalidInput("Register the old entry first: relaygate rollout legacy set --base-url URL.",
                                   "请先登记旧入口：relaygate rollout legacy set --base-url URL。")
            await repo.write_settings(conn, values)
            if not was.active and not (await conn.execute(select(func.count()).select_from(t.rollout_checklist))
                                       ).scalar():
                await conn.execute(t.rollout_checklist.insert(), [
                    {"kind": kind, "item": f"{en} / {zh}", "owner": "unassigned", "done": False,
                     "created_at": now_ms()} for kind, en, zh in DEFAULT_CHECKLIST])
            await repo.bump(conn)
        return await self.legacy()

    async def old_database(self) -> tuple[str, str | None]:
        """The old system's database (and its logs'): the legacy source, else the last applied plan's source."""
        from relaygate.services.migration import documents

        async with self.engine.connect() as conn:
            legacy = await repo.read_settings(conn)
        if legacy.source_dsn:
            return legacy.source_dsn, legacy.logs_dsn
        plan = await documents.latest(self.engine, "plan")
        src = ((plan or {}).get("body") or {}).get("source") or {}
        if src.get("dsn"):
            return str(src["dsn"]), src.get("logs_dsn") or None
        raise InvalidInput("relaygate does not know the old database yet: run `relaygate rollout legacy set --source "
                           "…` or `relaygate migrate import --apply` (or record one with `relaygate migrate inspect "
                           "--record`).",
                           "relaygate 尚不知道旧系统数据库：请运行 `relaygate rollout legacy set --source …` 或 "
                           "`relaygate migrate import --apply`（或用 `relaygate migrate inspect --record` 记录盘点）。")

    async def retire_legacy(self, actor: str, force: bool = False) -> dict[str, Any]:
        """Remove the legacy channel: every key is served natively from now on."""
        async with self.engine.begin() as conn:
            owners = set(await repo.eligible_owners(conn))
            left = owners - repo.native_owners(await repo.load_batches(conn))
            if left and not force:
                raise InvalidInput(
                    f"{len(left)} owner(s) are still served by the old entry (no switched batch holds them); "
                    "switch their batch first, or pass --force to move them without a balance hand-over.",
                    f"仍有 {len(left)} 个负责人由旧入口服务（不在已切换的批次中）；请先切换其批次，"
                    "或加 --force 在不交接余额的情况下切换。", status=409)
            await repo.write_settings(conn, {"base_url": None, "updated_by": actor})
            await repo.bump(conn)
        return await self.legacy()

    async def plan(self, name: str, actor: str, *, owners: list[str] | None = None, keys: list[str] | None = None,
                   environments: list[str] | None = None, percent: float | None = None, rest: bool = False,
                   switch_at: int | None = None, rollback_deadline: int | None = None,
                   rollback_window_ms: int | None = None, conditions: list[str] | None = None,
                   window_seconds: int = 900, min_requests: int = 20, baseline_days: int = 7,
                   auto_rollback: bool = True, description: str | None = None) -> dict[str, Any]:
        """Add a planned batch, or change one that is still planned (recorded in its history)."""
        name = name.strip()
        if not name or len(name) > 64:
            raise InvalidInput("A batch name is 1 to 64 characters.", "批次名称为 1 到 64 个字符。")
        sel = _selector(owners, keys, environments, percent, rest)
        conds = [Condition.parse(c) for c in conditions] if conditions else list(DEFAULT_CONDITIONS)
        if window_seconds < 10 or min_requests < 1 or baseline_days < 1:
            raise InvalidInput("--window is at least 10 s, --min-requests at least 1, --baseline-days at least 1.",
                               "--window 至少 10 秒，--min-requests 至少 1，--baseline-days 至少 1。")
        now = now_ms()
        if rollback_deadline is not None and rollback_deadline <= now:
            raise InvalidInput("The rollback deadline is in the past.", "回滚截止时间已经过去。")
        values = {"description": description, "selector": sel.to_dict(), "switch_at": switch_at,
                  "rollback_deadline": rollback_deadline,
                  "rollback_window_ms": rollback_window_ms if rollback_deadline is None else None,
                  "conditions": [c.to_dict() for c in conds], "window_seconds": window_seconds,
                  "min_requests": min_requests, "baseline_days": baseline_days, "auto_rollback": auto_rollback,
                  "updated_at": now}
        if rollback_deadline is None and rollback_window_ms is None:
            values["rollback_window_ms"] = 7 * 86_400_000  # the default window: a week from the first switch
        async with self.engine.begin() as conn:
            row = (await conn.execute(select(t.rollout_batches).where(t.rollout_batches.c.name == name))).first()
            if row is None:
                pos = int((await conn.execute(select(func.max(t.rollout_batches.c.position)))).scalar() or 0) + 1
                await conn.execute(t.rollout_batches.insert().values(
                    name=name, position=pos, state="planned", switches=0, rollbacks=0, created_by=actor[:128],
                    created_at=now, **values))
                batch = Batch.from_row((await conn.execute(select(t.rollout_batches).where(
                    t.rollout_batches.c.name == name))).one())
                said = "已计划" if self.settings.lang_code() == "zh-CN" else "planned"  # stored in one language
                await repo.add_transition(conn, batch, "planned", actor, said, {"selector": sel.text()},
                                          from_state=None)
            else:
                if row.state != "planned":
                    raise InvalidInput(f"Batch '{name}' is {row.state}; only a planned batch can be changed.",
                                       f"批次 '{name}' 当前为 {row.state}；只有计划中的批次可以修改。", status=409)
                await conn.execute(t.rollout_batches.update().where(t.rollout_batches.c.id == row.id).values(**values))
                batch = Batch.from_row(row)
                await repo.add_transition(conn, batch, "planned", actor, "plan changed / 计划已修改",
                                          {"selector": sel.text()})
            await repo.bump(conn)
        return await self.show(name)

    async def status(self) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            batches = await repo.load_batches(conn)
            owners = await repo.eligible_owners(conn)
        members = repo.assign(batches, owners)
        total = len(owners) or 1
        now = now_ms()
        return [self._summary(b, members.get(b.id, frozenset()), owners, total, now) for b in batches]

    def _summary(self, b: Batch, members: frozenset[str], owners: dict[str, Any], total: int,
                 now: int) -> dict[str, Any]:
        deadline = b.deadline()
        keys = sum(len(owners[o].key_ids) for o in members if o in owners)
        return {"id": b.id, "name": b.name, "state": b.state, "selector": b.selector.text(),
                "selector_zh": b.selector.text("zh-CN"),
                "owners": len(members), "keys": keys, "owner_share": round(len(members) / total, 4),
                "switch_at": iso(b.switch_at), "due": b.state == "planned" and b.switch_at is not None
                and b.switch_at <= now, "switched_at": iso(b.switched_at), "switches": b.switches,
                "rollbacks": b.rollbacks, "rollback_deadline": iso(deadline),
                "rollback_open": b.state in NATIVE_STATES - {"completed"} and b.rollback_open(now),
                "auto_rollback": b.auto_rollback, "conditions": [c.text() for c in b.conditions],
                "window_seconds": b.window_seconds, "min_requests": b.min_requests,
                "frozen": bool(b.members),
                # per owner: moved with its hand-over or not (yet); a failed hand-over names the owner and why
                "native": sum(1 for m in b.member_rows.values() if m.route == "native"),
                "not_moved": len(left := b.left()), "not_moved_owners": left[:20],
                "failures": dict(list(b.failures().items())[:20]), "failed": len(b.failures())}

    async def show(self, ident: str | int) -> dict[str, Any]:
        async with self.engine.connect() as conn:
            batch = await repo.get_batch(conn, ident)
            batches = await repo.load_batches(conn)
            owners = await repo.eligible_owners(conn)
            history = await self.history_rows(conn, batch.id)
        members = repo.assign(batches, owners).get(batch.id, frozenset())
        view = self._summary(batch, members, owners, len(owners) or 1, now_ms())
        sample = sorted(members)[:50]
        view["description"] = batch.description
        view["members_sample"] = [{"owner_id": o, "name": owners[o].name if o in owners else o,
                                   "keys": len(owners[o].key_ids) if o in owners else 0,
                                   "route": batch.member_rows[o].route if o in batch.member_rows else "legacy",
                                   "failure": batch.member_rows[o].failure if o in batch.member_rows else None}
                                  for o in sample]
        view["failures"] = batch.failures()
        view["history"] = history
        return view

    async def history_rows(self, conn: Any, batch_id: int) -> list[dict[str, Any]]:
        T = t.rollout_transitions
        return [{"time": iso(r.created_at), "from": r.from_state, "to": r.to_state, "actor": r.actor,
                 "reason": r.reason, "detail": r.detail}
                for r in await conn.execute(select(T).where(T.c.batch_id == batch_id).order_by(T.c.id))]

    async def history(self, ident: str | int) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            batch = await repo.get_batch(conn, ident)
            return await self.history_rows(conn, batch.id)


async def _checked_dsn(dsn: str, logs_dsn: str | None) -> str:
    """Open the old database once (read-only) so a wrong address fails now, not at the first switch."""
    from relaygate.services.migration.dsn import plan_dsn
    from relaygate.services.migration.source import Source

    source = await Source.open(dsn, logs_dsn or None)
    await source.close()
    return plan_dsn(dsn)
