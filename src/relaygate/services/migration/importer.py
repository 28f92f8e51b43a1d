"""`migrate import`: apply a reviewed plan to relaygate's database; a dry run by default, idempotent always.

Every record gets a stable identity derived from the source row (owners ``own_<tag>_<user id>``, keys
from the key hash, channels by ``options.import.ref``, admin tokens ``adm_<tag>_<user id>``, balance
entries by request id ``imp:<tag>:u<user id>``), so a second run updates what changed and never
duplicates. Rows are read from the source in chunks and written one transaction per chunk.
"""

from __future__ import annotations

import re
import time
from fractions import Fraction
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from relaygate.core.errors import InvalidInput
from relaygate.core.settings import Settings
from relaygate.services.migration import (
    import_accounts,
    import_routing,
    import_rules,
    import_tasks,
    media_prices,
)
from relaygate.services.migration.context import Ctx
from relaygate.services.migration.dsn import expand, mask_dsn
from relaygate.services.migration.progress import NULL, Progress, Timings
from relaygate.services.migration.source import Source
from relaygate.services.migration.survey import stale_abilities, take_survey
from relaygate.services.migration.units import Units
from relaygate.store.db import bump_config_version, set_meta
from relaygate.store.secret_rows import ensure_secrets


def check_units(plan: dict[str, Any], settings: Settings, source_qpu: Fraction) -> Units:
    units = plan["units"]
    currency, rate = str(units.get("currency", "USD")), Fraction(str(units.get("usd_rate", "1")).rstrip("…"))
    if currency != settings.currency or rate != Fraction(settings.usd_rate):
        raise InvalidInput(
            f"The plan converts to {currency} at {units.get('usd_rate')} per USD but this relaygate uses "
            f"{settings.currency} at {settings.usd_rate}: make the plan again with the same RELAYGATE_CURRENCY "
            "and RELAYGATE_USD_RATE.",
            f"计划按 {currency}（{units.get('usd_rate')}/USD）换算，而本 relaygate 使用 {settings.currency}"
            f"（{settings.usd_rate}）：请用相同的 RELAYGATE_CURRENCY 和 RELAYGATE_USD_RATE 重新生成计划。")
    planned = str(units.get("quota_per_unit", "500000")).rstrip("…")
    if Fraction(planned) != source_qpu:
        raise InvalidInput(
            f"QuotaPerUnit is {source_qpu} in the source but {planned} in the plan: the source changed since "
            "the plan was made; run relaygate migrate plan again.",
            f"源库的 QuotaPerUnit 为 {source_qpu}，计划中为 {planned}：计划生成后源库已改变，请重新运行 migrate plan。")
    return Units(source_qpu, rate, currency)


def check_tag(tag: Any) -> str:
    if not isinstance(tag, str) or not re.fullmatch(r"[a-z0-9]{1,8}", tag):
        raise InvalidInput(f"source.tag must be 1-8 lowercase letters or digits (found {tag!r}).",
                           f"source.tag 必须是 1-8 个小写字母或数字（当前为 {tag!r}）。")
    return tag


async def run_import(plan: dict[str, Any], engine: AsyncEngine, settings: Settings, protocols: list[str], *,
                     apply: bool = False, progress: Progress = NULL, source_dsn: str | None = None,
                     logs_dsn: str | None = None, actor: str = "migrate import") -> dict[str, Any]:
    """Import (or, without ``apply``, show what importing would change); returns the report."""

    await ensure_secrets(engine, settings, write=apply)  # channel secrets are written sealed; a dry run writes none
    started = time.monotonic()
    timings = Timings()
    src_plan = plan["source"]
    dsn = source_dsn or expand(str(src_plan["dsn"]))
    logs = logs_dsn or (expand(str(src_plan["logs_dsn"])) if src_plan.get("logs_dsn") else None)
    tag = check_tag(src_plan.get("tag"))
    timings.begin("read source")
    source = await Source.open(dsn, logs, src_plan.get("kind"))
    try:
        survey = await take_survey(source)
        units = check_units(plan, settings, survey.ratios.quota_per_unit)
        timings.end(channels=len(survey.channels), models=len(survey.routes))
        ctx = Ctx(source, survey, plan, engine, units, protocols, apply, progress, tag)
        ctx.group_map = {str(g["source"]): g.get("target") for g in plan.get("groups", []) if g.get("source")}
        ctx.renames = {m["old_name"]: m.get("new_name") or m["old_name"] for m in plan["models"]}
        ctx.warnings.extend(survey.problems)
        stale = await stale_abilities(source, survey.channels)
        if stale:
            ctx.facts["stale_abilities"] = stale
            shown = "; ".join(f"{a['group']}/{a['model']} → #{a['channel_id']} ({a['why']})" for a in stale[:10])
            ctx.warnings.append(f"{len(stale)} stale abilities row(s) dropped (relaygate routes from the channels): "
                                + shown + (" …" if len(stale) > 10 else ""))
        for name, step in (("groups", import_routing.groups), ("channels", import_routing.channels),
                           ("models and prices", import_routing.models_and_prices),
                           ("media prices", media_prices.media_prices),
                           ("owners", import_accounts.owners), ("balances", import_accounts.balances),
                           ("keys", import_accounts.keys), ("key rules", import_rules.key_rules),
                           ("redemption codes", import_rules.redemptions),
                           ("admin tokens", import_accounts.admin_tokens),
                           ("tasks in flight", lambda c: import_tasks.tasks(c, settings))):
            timings.begin(name)
            counts = await step(ctx)
            timings.end(**counts)
        if apply:
            async with engine.begin() as conn:
                await bump_config_version(conn)
                await set_meta(conn, "ledger_version", f"{ctx.now_ms}-import-{tag}")
    finally:
        await source.close()
    report = {
        "dry_run": not apply, "source": {"kind": source.kind, "name": source.name, "dsn": mask_dsn(dsn),
                                          "tag": tag},
        "units": {"quota_per_unit": str(units.quota_per_unit), "currency": units.currency,
                  "usd_rate": str(units.usd_rate)},
        "steps": timings.steps, "seconds": round(time.monotonic() - started, 3),
        "changes": ctx.changes.as_dict(), "prices": ctx.facts.get("prices", []),
        "media_prices": ctx.facts.get("media_prices", []),
        "balances": ctx.facts.get("balances", {}), "stale_abilities": ctx.facts.get("stale_abilities", []),
        "redemptions": ctx.facts.get("redemptions", {}), "warnings": ctx.warnings, "differences": differences(ctx),
    }
    if apply:  # the console shows the mapping table and the report of the import that was applied
        from relaygate.services.migration import documents

        plan_doc = orjson.loads(orjson.dumps(plan, option=orjson.OPT_NON_STR_KEYS, default=str))
        await documents.record(engine, "plan", plan_doc, actor)
        await documents.record(engine, "import", report, actor)
    return report


def differences(ctx: Ctx) -> list[str]:
    """What behaves differently after the move, so support can answer before users ask."""
    src = ctx.source_name
    out = [
        f"Admin scripts: {src} accepted `Authorization: <access token>` on /api/token, /api/channel, /api/user …; "
        "relaygate accepts the same token as `Authorization: Bearer <token>` on its own admin API (/api/keys, "
        "/api/channels, /api/owners, /api/balances; OpenAPI document at /api/openapi.json). Paths, payloads and "
        "the {success, message, data} envelope differ, so scripts must be pointed at the new endpoints"
        + (" (no New-Api-User header is needed)." if ctx.system == "newapi" else "."),
        "Access tokens of non-admin users are not imported: relaygate has no per-user management API.",
        (f"Refusals keep {src}'s status codes (policy.statuses: source): disabled user 403, exhausted token 401, "
         "user out of quota 403, unknown model 503 …, with relaygate's error code and message; "
         "`relaygate migrate statuses relaygate` switches to relaygate's own (docs/migration.md has the table)."
         if ctx.facts.get("key_rules", {}).get("statuses", "source") == "source" else
         "Refusals use relaygate's status codes (policy.statuses: relaygate): disabled user 401 key_disabled "
         "(was 403), exhausted token 402 (was 401), user out of quota 402 (was 403), unknown model 404 (was 503)."),
        f"Usage history stays in {src}'s logs table; relaygate's statements start at the import entry.",
    ]
    if ctx.system == "oneapi":
        out.append("Channel weights: One API ignored them (uniform pick inside a priority); imported as equal "
                   "weights, so routing is unchanged. Change them in relaygate to weight traffic.")
    else:
        out.append("Tokens in New API's 'auto' group try their owner's auto groups in order (AutoGroups within the "
                   "usable groups), as New API did; cross_group_retry (retrying the next group after a failure) "
                   "is not carried.")
    counts = ctx.facts.get("side_tables", {})
    taken = ctx.facts.get("tasks")
    if taken is not None:
        out.append(import_tasks.difference(ctx, taken))
    for name, count in counts.items():
        if count and name not in ("redemptions", "tasks", "midjourneys"):
            out.append(f"{count} row(s) of {src}'s {name} table are not imported (payments, "
                       "async tasks and 2FA have no relaygate counterpart yet).")
    return out
