"""The guard: a supervised loop comparing each observed batch's error rates with its baseline."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.clock import iso, now_ms
from relaygate.core.errors import InvalidInput
from relaygate.core.settings import Settings
from relaygate.services.rollout import repo
from relaygate.services.rollout.model import NATIVE_STATES, WATCHED_STATES, Batch, Condition, old_user
from relaygate.services.rollout.moves import Mover
from relaygate.services.rollout.oldsystem import OldSystem
from relaygate.services.rollout.rates import Rates, usage_rates
from relaygate.services.rollout.routing import RolloutRouting
from relaygate.store import tables as t

log = logging.getLogger("relaygate.rollout.guard")
GUARD = "guard"


@dataclass(frozen=True, slots=True)
class Trip:
    condition: Condition
    rate: float
    baseline: float
    requests: int

    def message(self, batch: Batch) -> str:
        return (f"Rollout batch '{batch.name}' (switch {batch.switches}): {self.condition.cls} rate "
                f"{self.rate:.2%} over {self.requests} requests in the last {batch.window_seconds} s, baseline "
                f"{self.baseline:.2%}; condition {self.condition.text()} tripped.")

    def message_zh(self, batch: Batch) -> str:
        return (f"灰度批次 '{batch.name}'（第 {batch.switches} 次切换）：最近 {batch.window_seconds} 秒 "
                f"{self.requests} 个请求中 {self.condition.cls} 比例为 {self.rate:.2%}，基线 {self.baseline:.2%}；"
                f"触发条件 {self.condition.text()}。")


class Guard:
    """A tripped condition is recorded once per batch, switch and class (a unique row, so several workers
    raise it once), written to ``alert_events`` and POSTed to the alert webhook; when the batch says
    ``auto_rollback`` and its window is open, the batch is rolled back with who = 'guard'.
    """

    def __init__(self, engine: AsyncEngine, settings: Settings, routing: RolloutRouting, mover: Mover) -> None:
        self.engine = engine
        self.settings = settings
        self.routing = routing
        self.mover = mover
        self.baselines: dict[tuple[int, int], Rates] = {}
        self.last_eval = 0.0
        self.last_sync = 0.0
        self._sync_lock = asyncio.Lock()  # the supervised loop and an operator's check must not book twice

    async def run(self, session_factory: Callable[[], aiohttp.ClientSession | None]) -> None:
        """Supervised loop: reload routing when the rollout changed; evaluate every guard_seconds."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.settings.config_poll_seconds)
            try:
                await self.routing.refresh_if_changed()
                async with self.engine.connect() as conn:
                    settings = await repo.read_settings(conn)
                if not settings.active or loop.time() - self.last_eval < settings.guard_seconds:
                    continue
                self.last_eval = loop.time()
                await self.evaluate_all(session_factory())
                if settings.source_dsn and loop.time() - self.last_sync >= max(60.0, 10 * settings.guard_seconds):
                    self.last_sync = loop.time()
                    await self.sync_native(settings)
            except Exception as exc:  # the database may be briefly away; try again next round
                log.warning("rollout guard skipped a round: %s: %s", type(exc).__name__, exc)

    async def evaluate_all(self, session: aiohttp.ClientSession | None = None) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            batches = [b for b in await repo.load_batches(conn) if b.state in WATCHED_STATES]
        out = []
        for batch in batches:
            out.append(await self.evaluate(batch, session))
        return out

    async def evaluate(self, batch: Batch, session: aiohttp.ClientSession | None = None) -> dict[str, Any]:
        """Judge one batch now; the verdict is kept in the database as the batch's last one (for every worker)."""
        view = await self._evaluate(batch, session)
        now = now_ms()
        row = {"verdict": {**view, "time": iso(now)}, "judged_at": now}
        V = t.rollout_verdicts
        for _ in range(2):  # two workers judging the same batch at once: the second insert becomes an update
            try:
                async with self.engine.begin() as conn:
                    done = await conn.execute(update(V).where(V.c.batch_id == batch.id, V.c.judged_at <= now)
                                              .values(**row))
                    if not done.rowcount and (await conn.execute(
                            select(V.c.batch_id).where(V.c.batch_id == batch.id))).first() is None:
                        await conn.execute(V.insert().values(batch_id=batch.id, **row))
                break
            except IntegrityError:
                continue
        return view

    async def verdicts(self) -> dict[str, dict[str, Any]]:
        """Each batch's last verdict by batch name, whichever worker (or operator's check) reached it."""
        V, B = t.rollout_verdicts, t.rollout_batches
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(V.c.verdict, B.c.name).join(B, B.c.id == V.c.batch_id)
                                       .order_by(V.c.judged_at.desc()))).all()
        return {r.name: dict(r.verdict) for r in rows}

    async def trips(self, limit: int = 50) -> list[dict[str, Any]]:
        """Conditions that tripped, newest first, with the batch's name (each is recorded once)."""
        T, B = t.rollout_trips, t.rollout_batches
        async with self.engine.connect() as conn:
            rows = (await conn.execute(select(T, B.c.name).join(B, B.c.id == T.c.batch_id)
                                       .order_by(T.c.id.desc()).limit(limit))).all()
        return [{"time": iso(r.created_at), "batch": r.name, "switch": r.switch_no, "class": r.error_class,
                 "rate": r.rate, "baseline": r.baseline, "threshold": r.threshold, "requests": r.requests,
                 "action": r.action, "message": r.message} for r in rows]

    async def _evaluate(self, batch: Batch, session: aiohttp.ClientSession | None = None) -> dict[str, Any]:
        now = now_ms()
        members = sorted(batch.members)
        since = max(now - batch.window_seconds * 1000, batch.switched_at or now)
        async with self.engine.connect() as conn:
            after = await usage_rates(conn, members, since, None, "native")
        baseline = await self.baseline(batch)
        view: dict[str, Any] = {"batch": batch.name, "state": batch.state, "after": after.view(),
                                "baseline": baseline.view(), "tripped": []}
        if after.requests < batch.min_requests:
            view["note"] = f"{after.requests} of the {batch.min_requests} requests needed to judge"
            view["waiting"] = [after.requests, batch.min_requests]  # for pages in another language
            return view
        if batch.state == "switched":
            try:
                await self.mover.observe(batch.id, GUARD, self._pick(
                    f"{after.requests} requests since the switch; watching error rates against the baseline",
                    f"切换后已有 {after.requests} 个请求，开始对照基线观察错误率"))
                batch.state = "observing"
            except InvalidInput:
                pass  # another worker or the operator moved it first
            view["state"] = batch.state
        trips = [Trip(c, after.rate(c.cls), baseline.rate(c.cls), after.requests) for c in batch.conditions
                 if c.tripped(after.rate(c.cls), baseline.rate(c.cls))]
        view["tripped"] = [{"condition": tr.condition.text(), "rate": round(tr.rate, 6),
                            "baseline": round(tr.baseline, 6)} for tr in trips]
        if trips:
            view["action"] = await self._act(batch, trips, session)
        async with self.engine.connect() as conn:  # what this run left it in, not what it found
            view["state"] = (await repo.get_batch(conn, batch.id)).state
        return view

    async def baseline(self, batch: Batch) -> Rates:
        key = (batch.id, batch.switches)
        cached = self.baselines.get(key)
        if cached is None:
            cached = self.baselines[key] = await baseline_rates(self.engine, self.settings, batch)
        return cached

    async def _act(self, batch: Batch, trips: list[Trip], session: aiohttp.ClientSession | None) -> str:
        now = now_ms()
        open_ = batch.rollback_open(now)
        action = "rolled_back" if batch.auto_rollback and open_ else "window_closed" if batch.auto_rollback \
            else "alerted"
        fresh: list[Trip] = []
        for trip in trips:
            try:
                async with self.engine.begin() as conn:
                    await conn.execute(t.rollout_trips.insert().values(
                        batch_id=batch.id, switch_no=batch.switches, error_class=trip.condition.cls, rate=trip.rate,
                        baseline=trip.baseline, threshold=trip.condition.text(), requests=trip.requests,
                        action=action, message=trip.message(batch), created_at=now))
                fresh.append(trip)
            except IntegrityError:
                continue  # raised already (by this worker or another)
        if not fresh:
            return "already raised"
        text = " ".join(tr.message(batch) for tr in fresh)
        zh = "".join(tr.message_zh(batch) for tr in fresh)
        if action == "rolled_back":
            text += " Rolling the batch back to the old entry (auto_rollback)."
            zh += "正在自动回滚到旧入口。"
        elif action == "window_closed":
            text += f" The rollback window closed at {iso(batch.deadline())}: fix forward."
            zh += f"回滚窗口已于 {iso(batch.deadline())} 关闭：请向前修复。"
        await self._alert(batch, self._pick(text, zh), fresh[0].requests, session)  # one language, the operator's
        if action == "rolled_back" and batch.state in NATIVE_STATES:
            try:
                await self.mover.rollback(batch.id, GUARD, "; ".join(self._pick(
                    f"{tr.condition.text()} tripped: {tr.rate:.2%} vs baseline {tr.baseline:.2%} over "
                    f"{tr.requests} requests",
                    f"触发 {tr.condition.text()}：{tr.rate:.2%}，基线 {tr.baseline:.2%}，共 {tr.requests} 个请求")
                    for tr in fresh))
            except InvalidInput as exc:
                log.warning("guard could not roll back %s: %s", batch.name, exc.en)
                return f"rollback refused: {exc.en}"
        return action

    def _pick(self, en: str, zh: str) -> str:
        return zh if self.settings.lang_code() == "zh-CN" else en

    async def _alert(self, batch: Batch, message: str, value: int, session: aiohttp.ClientSession | None) -> None:
        event: dict[str, Any] = {"rule_id": 0, "scope": "rollout", "target": batch.name[:32], "kind": "rollout_guard",
                 "message": message, "value": value, "delivered": False, "created_at": now_ms()}
        url = self.settings.alert_webhook_url
        if url and session is not None:
            try:
                async with session.post(url, json={**event, "time": iso(event["created_at"]), "batch": batch.name},
                                        timeout=aiohttp.ClientTimeout(total=10)) as resp:
                    event["delivered"] = resp.status < 300
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning("rollout alert webhook failed: %s", type(exc).__name__)
        async with self.engine.begin() as conn:
            await conn.execute(t.alert_events.insert().values(**event))
        log.warning("%s", message)

    async def sync_native(self, settings: repo.LegacySettings) -> None:
        """Book residual old-entry spend of switched owners (callers still using the old base URL)."""
        async with self._sync_lock:
            await self._sync_native(settings)

    async def _sync_native(self, settings: repo.LegacySettings) -> None:
        async with self.engine.connect() as conn:
            batches = [b for b in await repo.load_batches(conn) if b.state in NATIVE_STATES and b.members]
        if not batches:
            return
        from relaygate.services.rollout.handover import Handover

        old = await OldSystem.open(settings.source_dsn or "", settings.logs_dsn, self.settings)
        try:
            for batch in batches:  # owners served natively: their residual old-entry spend
                imported = [o for o in sorted(batch.members) if old_user(o) is not None
                            and batch.member_rows[o].route == "native"]
                result = await Handover(self.engine, old, self.settings.currency, self.settings.lang_code()).run(
                    batch, imported, "sync", GUARD, "none", False, quiet=True)
                await self.mover.alert_failures(batch, result)  # new failures: logged and alerted once
        finally:
            await old.close()


async def baseline_rates(engine: AsyncEngine, settings: Settings, batch: Batch) -> Rates:
    """The batch's own legacy-period traffic before its first switch (relaygate's legacy records), or, when
    those are too few, the old system's logs for the same owners and period."""
    end = batch.first_switched_at or now_ms()
    start = end - batch.baseline_days * 86_400_000
    members = sorted(batch.members)
    async with engine.connect() as conn:
        rates = await usage_rates(conn, members, start, end, "legacy")
        legacy = await repo.read_settings(conn)
    rates.source = "relaygate legacy records"
    if rates.requests < batch.min_requests and legacy.source_dsn:
        logs = await old_log_rates(settings, legacy, members, start, end)
        if logs is not None and logs.requests > rates.requests:
            rates = logs
    if rates.requests < batch.min_requests:
        rates.note = (f"only {rates.requests} baseline requests (fewer than {batch.min_requests}): "
                      "relative conditions compare with a zero baseline")
    return rates


async def old_log_rates(settings: Settings, legacy: repo.LegacySettings, members: list[str], start: int,
                        end: int | None) -> Rates | None:
    """These owners' requests and errors in the old system's logs in [start, end), or None when unreadable."""
    try:
        old = await OldSystem.open(legacy.source_dsn or "", legacy.logs_dsn, settings)
    except InvalidInput:
        return None
    try:
        uids = [u[1] for o in members if (u := old_user(o)) is not None]
        counts = await old.log_counts(uids, start // 1000, end // 1000 if end is not None else None)
        name = old.source.name
    finally:
        await old.close()
    if counts is None:
        return None
    rates = Rates(counts.requests, source=f"{name} logs", note=counts.note)
    rates.errors.update(counts.errors)
    return rates
