"""Import steps for routing and money terms: groups and their multipliers, channels, models, prices."""

from __future__ import annotations

from fractions import Fraction
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select, text

from relaygate.core.errors import InvalidInput
from relaygate.core.keys import mask_secret
from relaygate.core.money import PPM, MoneyError, Price, parse_multiplier
from relaygate.services.migration.changes import diff
from relaygate.services.migration.channel_types import OPENAI, type_info
from relaygate.services.migration.context import Ctx, amount
from relaygate.services.migration.mapping import mapping_entry
from relaygate.services.migration.pricing import EXAMPLE, price_from_plan, show_ratio
from relaygate.services.migration.records import Channel
from relaygate.services.migration.survey import RELAYED_TASKS
from relaygate.services.operate.routing import RoutingAdmin, normalize_channel
from relaygate.store import tables as t

CHANNEL_FIELDS = ("name", "protocol", "base_url", "secrets", "models", "groups", "priority", "weight", "enabled",
                  "disabled_reason", "options")
PRICE_FIELDS = ("input_per_m", "cached_input_per_m", "output_per_m", "per_request", "free")


async def groups(ctx: Ctx) -> dict[str, Any]:
    """One relaygate group per target group of the plan, its multiplier = the source's group ratio."""
    wanted: dict[str, tuple[int, str]] = {}
    for row in ctx.plan.get("groups", []):
        target = row.get("target")
        if not target or not row.get("source"):
            continue
        try:
            ppm = parse_multiplier(str(row.get("multiplier") or "1").rstrip("…"))
        except MoneyError as exc:
            ctx.warnings.append(f"group {target}: multiplier {row.get('multiplier')!r} ignored ({exc})")
            ppm = PPM
        if target in wanted and wanted[target][0] != ppm:
            ctx.warnings.append(f"groups {wanted[target][1]} and {row['source']} both map to {target} with different "
                                f"ratios; {target} keeps {show_ratio(Fraction(wanted[target][0], PPM))}")
            continue
        wanted.setdefault(str(target), (ppm, str(row["source"])))
    for name in ctx.survey.groups:
        if name not in ctx.group_map:  # appeared in the source after the plan was made
            ppm = parse_multiplier(str(ctx.survey.ratios.group_ratio(name)))
            wanted.setdefault(name, (ppm, name))
            ctx.warnings.append(f"group '{name}' is not in the plan: imported as is")
    async with ctx.engine.begin() as conn:
        existing = {r.name: r for r in await conn.execute(select(t.groups).where(t.groups.c.name.in_(list(wanted))))}
        for name, (ppm, src) in sorted(wanted.items()):
            desc = f"Imported from {ctx.source_name} group '{src}' (ratio {show_ratio(Fraction(ppm, PPM))})"
            row = existing.get(name)
            if row is None:
                ctx.changes.created("groups", name, {"multiplier": show_ratio(Fraction(ppm, PPM))})
                if ctx.apply:
                    await conn.execute(t.groups.insert().values(
                        name=name, description=desc, models=None, multiplier_ppm=ppm, created_at=ctx.now_ms,
                        updated_at=ctx.now_ms))
            elif row.multiplier_ppm != ppm:
                ctx.changes.updated("groups", name, {"multiplier": (show_ratio(Fraction(row.multiplier_ppm, PPM)),
                                                                    show_ratio(Fraction(ppm, PPM)))})
                if ctx.apply:
                    await conn.execute(t.groups.update().where(t.groups.c.name == name).values(
                        multiplier_ppm=ppm, updated_at=ctx.now_ms))
            else:
                ctx.changes.same("groups")
    return {"groups": len(wanted)}


def _options(ctx: Ctx, ch: Channel, row: dict[str, Any]) -> dict[str, Any]:
    """The plan's channel options (e.g. Azure's api_version) plus where the channel came from."""
    info = type_info(ctx.system, ch.type)
    meta: dict[str, Any] = {"system": ctx.system, "ref": ref(ctx, ch.id), "source_id": ch.id, "type": ch.type,
                            "type_name": info.name}
    if info.protocol != OPENAI:
        meta["needs_protocol"] = info.protocol
    if ch.other:
        meta["other"] = ch.other
    if ch.config:
        meta["config"] = {k: mask_secret(str(v)) if k in ("sk", "ak", "vertex_ai_adc") else v
                          for k, v in ch.config.items()}
    if ch.system_prompt:
        meta["system_prompt"] = ch.system_prompt
    if ch.extra:
        meta["extra"] = {k: v for k, v in ch.extra.items() if k not in ("balance", "used_quota")}
    if row.get("notes"):
        meta["notes"] = row["notes"]
    extra = row.get("options")
    chosen = {k: v for k, v in extra.items() if v is not None} if isinstance(extra, dict) else {}
    return {**chosen, "import": meta}


def ref(ctx: Ctx, channel_id: int) -> str:
    return f"{ctx.tag}:channels.id={channel_id}"


async def channels(ctx: Ctx) -> dict[str, Any]:
    by_id = {ch.id: ch for ch in ctx.survey.channels}
    planned = {int(r["id"]): r for r in ctx.plan["channels"] if "id" in r}
    for cid in sorted(set(by_id) - set(planned)):
        ctx.changes.skipped("channels", f"#{cid} {by_id[cid].name}", "not in the plan (added to the source "
                                                                     "later): run relaygate migrate plan again")
    async with ctx.engine.begin() as conn:
        rows = list(await conn.execute(select(t.channels)))
        mine = {((r.options or {}).get("import") or {}).get("ref"): r for r in rows}
        names: dict[str, Any] = {r.name: r for r in rows}
        ids = {r.id for r in rows}
        inserted_ids = False
        for cid, plan_row in sorted(planned.items()):
            ch = by_id.get(cid)
            label = f"#{cid} {plan_row.get('target_name') or plan_row.get('name')}"
            if not plan_row.get("import", True):
                ctx.changes.skipped("channels", label, "import: false in the plan")
                continue
            if ch is None:
                ctx.changes.skipped("channels", label, "no longer in the source")
                continue
            try:
                values = _desired_channel(ctx, ch, plan_row)
            except InvalidInput as exc:
                ctx.changes.skipped("channels", label, exc.message("en"))
                continue
            current = mine.get(ref(ctx, cid))
            holder = names.get(values["name"])
            if holder is not None and (current is None or holder.id != current.id):
                values["name"] = f"{values['name']} #{cid}"
                ctx.warnings.append(f"channel name '{plan_row.get('target_name')}' is taken in relaygate: "
                                    f"channel #{cid} imported as '{values['name']}'")
            if current is None:
                explicit = cid not in ids
                ctx.changes.created("channels", label, {"base_url": values["base_url"], "enabled": values["enabled"],
                                                        "models": len(values["models"]),
                                                        "id": cid if explicit else "new"})
                if ctx.apply:
                    await conn.execute(t.channels.insert().values(
                        **({"id": cid} if explicit else {}), **values, connect_timeout=10.0, first_byte_timeout=60.0,
                        total_timeout=600.0, created_at=ctx.now_ms, updated_at=ctx.now_ms))
                    inserted_ids = inserted_ids or explicit
                    ids.add(cid)
                names[values["name"]] = SimpleNamespace(id=cid if explicit else -cid)
                continue
            changed = diff(current, values, CHANNEL_FIELDS)
            if not changed:
                ctx.changes.same("channels")
                continue
            ctx.changes.updated("channels", label, changed)
            if ctx.apply:
                await conn.execute(t.channels.update().where(t.channels.c.id == current.id).values(
                    **values, updated_at=ctx.now_ms))
                if values["enabled"] and not current.enabled:
                    await conn.execute(t.channel_health.delete().where(t.channel_health.c.channel_id == current.id))
        if inserted_ids and conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT setval(pg_get_serial_sequence('channels', 'id'), "
                                    "(SELECT MAX(id) FROM channels))"))
    return {"channels": len(planned)}


def _desired_channel(ctx: Ctx, ch: Channel, row: dict[str, Any]) -> dict[str, Any]:
    protocol = str(row.get("protocol") or OPENAI)
    enabled = bool(row.get("enabled"))
    reason = row.get("disabled_reason")
    if protocol not in ctx.protocols:
        reason = f"needs the '{protocol}' adapter, which this relaygate does not have yet"
        protocol, enabled = OPENAI, False
    models = {ctx.renames.get(str(k), str(k)): str(v) for k, v in (row.get("models") or {}).items()}
    groups = sorted({g for g in (ctx.group(str(x)) for x in row.get("groups") or []) if g})
    if not groups:
        groups, enabled = ["(no group)"], False
        reason = reason or "serves no group"
    # an image, audio, video … model: never forwarded as a chat request (the relay reads this map)
    tasks = {str(m.get("new_name") or m["old_name"]): list(m.get("tasks") or []) for m in ctx.plan["models"]}
    model_tasks = {name: tasks[name][0] for name in models if tasks.get(name) and tasks[name][0] not in RELAYED_TASKS}
    values = normalize_channel({
        "name": str(row.get("target_name") or ch.name or f"channel {ch.id}"), "protocol": protocol,
        "base_url": str(row.get("base_url") or ""), "secrets": list(ch.secrets) or ["(none)"], "models": models,
        "groups": groups, "priority": int(row.get("priority") or 0), "weight": int(row.get("weight") or 0),
        "enabled": enabled, "options": {**_options(ctx, ch, row), **({"model_tasks": model_tasks} if model_tasks
                                                                       else {})}}, ctx.protocols)
    values["enabled"] = enabled
    values["disabled_reason"] = None if enabled else str(reason or "disabled in the plan")[:255]
    values.setdefault("options", None)
    return values


async def models_and_prices(ctx: Ctx) -> dict[str, Any]:
    routing = RoutingAdmin(ctx.engine, ctx.protocols)
    report: list[dict[str, Any]] = []
    async with ctx.engine.connect() as conn:
        catalog = {r.name: r for r in await conn.execute(select(t.models))}
        prices = {r.model: r for r in await conn.execute(select(t.prices))}
    priced = 0
    for entry in ctx.plan["models"]:
        old, new = str(entry["old_name"]), str(entry.get("new_name") or entry["old_name"])
        await _catalog(ctx, routing, catalog, entry, old, new)
        try:
            price = price_from_plan(entry.get("price") or {})
        except MoneyError as exc:
            ctx.changes.skipped("prices", new, f"price in the plan is not an amount ({exc})")
            continue
        report.append(_compare(ctx, entry, old, new, price))
        if price is None:
            ctx.changes.skipped("prices", new, "no price in the plan (relaygate refuses unpriced models by default)")
            continue
        priced += 1
        values = {"input_per_m": price.input_per_m, "cached_input_per_m": price.cached_input_per_m,
                  "output_per_m": price.output_per_m, "per_request": price.per_request, "free": price.free}
        current = prices.get(new)
        if current is None:
            ctx.changes.created("prices", new, {"price": report[-1]["new_price"]})
        else:
            changed = diff(current, values, PRICE_FIELDS)
            if not changed:
                ctx.changes.same("prices")
                continue
            ctx.changes.updated("prices", new, changed)
        if ctx.apply:
            async with ctx.engine.begin() as conn:
                if current is None:
                    await conn.execute(t.prices.insert().values(model=new, max_output_tokens=None,
                                                                updated_at=ctx.now_ms, **values))
                else:
                    await conn.execute(t.prices.update().where(t.prices.c.model == new).values(
                        updated_at=ctx.now_ms, **values))
    ctx.facts["prices"] = report
    return {"models": len(ctx.plan["models"]), "priced": priced}


async def _catalog(ctx: Ctx, routing: RoutingAdmin, catalog: dict[str, Any], entry: dict[str, Any], old: str,
                   new: str) -> None:
    unsupported = entry.get("class") == "unsupported" and entry.get("replacement")
    if new == old and not unsupported:
        return
    current = catalog.get(new)
    aliases = sorted(set(current.aliases or []) | ({old} if new != old else set())) if current else (
        [old] if new != old else [])
    status = "unsupported" if unsupported else "active"
    replacement = str(entry["replacement"]) if unsupported else None
    if current is not None and sorted(current.aliases or []) == aliases and current.status == status \
            and current.replacement == replacement:
        ctx.changes.same("models")
        return
    desc = f"Imported from {ctx.source_name}: {entry.get('risk') or ''}"[:500]
    if current is None:
        ctx.changes.created("models", new, {"aliases": aliases, "status": status, "replacement": replacement})
    else:
        ctx.changes.updated("models", new, diff(current, {"aliases": aliases, "status": status,
                                                          "replacement": replacement},
                                                ("aliases", "status", "replacement")))
    if ctx.apply:
        try:
            await routing.upsert_model(new, aliases, status, replacement, desc)
        except InvalidInput as exc:
            ctx.warnings.append(f"model {new}: {exc.message('en')}")


def _compare(ctx: Ctx, entry: dict[str, Any], old: str, new: str, price: Price | None) -> dict[str, Any]:
    """The same request priced by the source (its formula, quota units) and by relaygate (nanos)."""
    prompt, completion = EXAMPLE
    routes = ctx.survey.routes.get(old)
    old_cost = old_basis = None
    if routes:
        _, prop = mapping_entry(old, routes, ctx.survey, ctx.units, ctx.protocols)
        quota = prop.old_quota(ctx.system, prompt, completion, quota_per_unit=ctx.units.quota_per_unit)
        old_basis = prop.basis
        if quota is not None and prop.basis != "unpriced":
            old_cost = ctx.units.nanos(quota)
    new_cost = None if price is None else (price.token_cost(prompt, completion))
    row = {"model": new, "old_name": old, "class": entry.get("class"), "basis": old_basis,
           "request": f"{prompt} prompt + {completion} completion tokens",
           "old_cost": None if old_cost is None else amount(ctx, old_cost),
           "new_cost": None if new_cost is None else amount(ctx, new_cost),
           "difference": None if old_cost is None or new_cost is None else amount(ctx, new_cost - old_cost),
           "new_price": _price_text(ctx, price)}
    return row


def _price_text(ctx: Ctx, price: Price | None) -> str:
    if price is None:
        return "none"
    if price.free:
        return "free"
    if price.per_request is not None:
        return f"{amount(ctx, price.per_request)} per request"
    cached = f", cached {amount(ctx, price.cached_input_per_m)}" if price.cached_input_per_m is not None else ""
    return f"in {amount(ctx, price.input_per_m)} / out {amount(ctx, price.output_per_m)} per 1M{cached}"
