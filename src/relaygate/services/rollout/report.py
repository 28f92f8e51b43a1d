"""The rollout report as data: per batch state, owners, error rates before and after, residual traffic, money."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.clock import iso, now_ms
from relaygate.core.money import format_amount
from relaygate.core.settings import Settings
from relaygate.services.operate.rollups import Rollups
from relaygate.services.rollout import repo
from relaygate.services.rollout.batches import Planner
from relaygate.services.rollout.evidence import Evidence
from relaygate.services.rollout.guard import baseline_rates, old_log_rates
from relaygate.services.rollout.model import REPORT_CLASSES, Batch
from relaygate.services.rollout.rates import daily_legacy_of, mapping_stats, usage_rates
from relaygate.store import tables as t
from relaygate.store.wide import wide_sum

DAY_MS = 86_400_000


async def build_report(engine: AsyncEngine, settings: Settings, days: int = 30, fresh: bool = True
                       ) -> dict[str, Any]:
    """Everything ``rollout report`` shows, as JSON-ready data (charts and Markdown are drawn from it).

    Requests per day and route come from the usage rollups: ``fresh`` brings them up to date first (the CLI
    and the API); the console reads them as the gateway's rollup task keeps them (seconds behind)."""
    now = now_ms()
    planner = Planner(engine, settings)
    evidence = Evidence(engine)
    rollups = Rollups(engine)
    if fresh:
        await rollups.refresh()
    summaries = {s["id"]: s for s in await planner.status()}
    days_routes = await rollups.daily_by("route", now - days * DAY_MS, now + 1)
    last_day = await rollups.requests_by("route", now - DAY_MS, now + 1)
    async with engine.connect() as conn:
        legacy = await repo.read_settings(conn)
        batches = await repo.load_batches(conn)
        owners = await repo.eligible_owners(conn)
        native = repo.native_owners(batches) & set(owners)
        disputes = await evidence.disputes()
    await _direct_per_day(engine, settings, legacy, batches, days_routes, now - days * DAY_MS)
    out_batches = []
    for batch in batches:
        out_batches.append(await _batch_report(engine, settings, legacy, batch, summaries[batch.id], planner,
                                               disputes, now))
    checklist = await evidence.checklist()
    return {
        "generated_at": iso(now), "currency": settings.currency,
        "legacy": {**legacy.view(), "imported_owners": len(owners), "native_owners": len(native),
                   "owner_share_switched": round(len(native) / len(owners), 4) if owners else None},
        "residual": {"last_24h": {"native": last_day.get("native", 0), "legacy": last_day.get("legacy", 0)},
                     "per_day": days_routes},
        "batches": out_batches,
        "disputes": {"total": len(disputes), "open": sum(1 for d in disputes if d["status"] == "open"),
                     "items": disputes},
        "checklist": {"items": checklist, "done": sum(1 for c in checklist if c["done"]), "total": len(checklist)},
    }


async def _rolled_back_at(engine: AsyncEngine, batch: Batch) -> int | None:
    T = t.rollout_transitions
    async with engine.connect() as conn:
        value = (await conn.execute(select(func.max(T.c.created_at)).where(
            T.c.batch_id == batch.id, T.c.to_state == "rolled_back"))).scalar()
    return None if value is None else int(value)


async def _direct_per_day(engine: AsyncEngine, settings: Settings, legacy: repo.LegacySettings,
                          batches: list[Batch], days_routes: dict[str, dict[str, int]], since_ms: int) -> None:
    """Requests that reached the old entry directly (its logs, less what relaygate forwarded) per UTC day, from
    owners served natively: added to ``days_routes`` as ``direct`` so the chart shows them too."""
    native = sorted({o for b in batches for o, m in b.member_rows.items() if m.route == "native"})
    if not native or not legacy.source_dsn:
        return
    from datetime import UTC, datetime

    from relaygate.core.errors import InvalidInput
    from relaygate.services.rollout.model import old_user
    from relaygate.services.rollout.oldsystem import OldSystem

    switched = [b.switched_at for b in batches if b.switched_at and any(
        m.route == "native" for m in b.member_rows.values())]
    start = -(-max(since_ms, min(switched) if switched else since_ms) // 1000) * 1000  # whole seconds, as the logs
    async with engine.connect() as conn:
        forwarded = await daily_legacy_of(conn, native, start)
    try:
        old = await OldSystem.open(legacy.source_dsn, legacy.logs_dsn, settings)
    except InvalidInput:
        return
    try:
        times = await old.request_times([u[1] for o in native if (u := old_user(o))], start // 1000)
    finally:
        await old.close()
    logged: dict[str, int] = {}
    for ts in times:
        day = datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d")
        logged[day] = logged.get(day, 0) + 1
    for day, n in sorted(logged.items()):  # what relaygate forwarded for them shows in the old logs too
        if direct := max(n - forwarded.get(day, 0), 0):
            days_routes.setdefault(day, {})["direct"] = direct


async def _batch_report(engine: AsyncEngine, settings: Settings, legacy: repo.LegacySettings, batch: Batch,
                        summary: dict[str, Any], planner: Planner, disputes: list[dict[str, Any]],
                        now: int) -> dict[str, Any]:
    members = sorted(batch.members)
    view: dict[str, Any] = {**summary, "description": batch.description}
    if batch.switched_at is None:  # never switched: its legacy traffic so far is all there is
        view.update({"before": None, "after": None, "residual": None, "mapping": None})
    else:
        until = batch.completed_at if batch.state == "completed" else None
        before = await baseline_rates(engine, settings, batch)
        first = batch.first_switched_at or batch.switched_at
        async with engine.connect() as conn:
            after = await usage_rates(conn, members, batch.switched_at, until, "native")
            after_all = await usage_rates(conn, members, first, until, "native")
            residual = await usage_rates(conn, members, batch.switched_at, None, "legacy")
            mapping = await mapping_stats(conn, members, batch.switched_at, until)
        view["before"] = before.view()
        view["after"] = after.view()  # since the latest switch
        view["after_all_switches"] = after_all.view()  # every native period, failed ones included
        view["change"] = {c: round(after.rate(c) - before.rate(c), 6) for c in (*REPORT_CLASSES, "403", "5xx")}
        # the native period: since the latest switch, or, for a rolled-back batch, until its rollback
        native_since = batch.switched_at
        native_until = await _rolled_back_at(engine, batch) if batch.state == "rolled_back" else None
        old_logs = None
        if legacy.source_dsn:
            # old logs count whole seconds: start at the first whole second after the switch; requests
            # relaygate itself forwarded (a worker that had not reloaded yet) are not the callers' doing
            since_s = -(-native_since // 1000)
            until_ms = native_until // 1000 * 1000 if native_until is not None else None
            logs = await old_log_rates(settings, legacy, members, since_s * 1000, until_ms)
            if logs is not None:
                async with engine.connect() as conn:
                    forwarded = await usage_rates(conn, members, since_s * 1000, until_ms, "legacy")
                old_logs = max(logs.requests - forwarded.requests, 0)
        if native_until is not None:
            async with engine.connect() as conn:
                residual = await usage_rates(conn, members, native_since, native_until, "legacy")
        view["residual"] = {
            "forwarded_by_relaygate_since_switch": residual.requests,
            "old_entry_requests_since_switch": old_logs,
            "native_until": iso(native_until),
            "note": "old-entry requests are callers still using the old base URL directly (from its logs)"
            if old_logs is not None else "old logs not readable: configure --source/--logs-source"}
        view["mapping"] = mapping
    async with engine.connect() as conn:
        view["history"] = await planner.history_rows(conn, batch.id)
        trips = (await conn.execute(select(t.rollout_trips).where(t.rollout_trips.c.batch_id == batch.id)
                                    .order_by(t.rollout_trips.c.id))).all()
        H = t.rollout_handovers
        money: dict[str, int] = {r[0]: int(r[1]) for r in await conn.execute(
            select(H.c.kind, func.coalesce(wide_sum(H.c.amount), 0)).where(H.c.batch_id == batch.id)
            .group_by(H.c.kind))}
        states: dict[str, int] = dict((await conn.execute(select(H.c.state, func.count()).where(
            H.c.batch_id == batch.id, H.c.kind == "write").group_by(H.c.state))).all())
    view["trips"] = [{"time": iso(r.created_at), "switch": r.switch_no, "class": r.error_class,
                      "rate": r.rate, "baseline": r.baseline, "threshold": r.threshold, "requests": r.requests,
                      "action": r.action} for r in trips]
    booked = int(money.get("sync", 0))
    moved = -int(money.get("write", 0))  # import side of the writes: negative = the old quota went down
    view["handover"] = {"rows": sum(int(v) for v in states.values()) + (1 if money else 0),
                        "booked_old_spend": booked, "booked_old_spend_text": format_amount(booked, settings.currency),
                        "moved": moved, "moved_text": format_amount(moved, settings.currency),
                        "writes": {k: int(v) for k, v in states.items()},
                        "open_writes": int(states.get("pending", 0)) + int(states.get("writing", 0))
                        + int(states.get("failed", 0))}
    mine = [d for d in disputes if d["batch"] == batch.name]
    view["disputes"] = {"total": len(mine), "open": sum(1 for d in mine if d["status"] == "open")}
    view["rollback_open"] = summary["rollback_open"]
    view["age_days"] = round((now - batch.switched_at) / DAY_MS, 2) if batch.switched_at else None
    return view
