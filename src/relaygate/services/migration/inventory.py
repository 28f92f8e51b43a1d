"""`migrate inspect`: a read-only inventory of a One API / New API installation, for people and tools."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from relaygate.core.keys import mask_key
from relaygate.core.money import format_amount
from relaygate.services.migration.channel_types import OPENAI, type_info
from relaygate.services.migration.dsn import mask_dsn
from relaygate.services.migration.logs import read_logs
from relaygate.services.migration.pricing import show_ratio
from relaygate.services.migration.progress import NULL, Progress
from relaygate.services.migration.records import ROLE_NAMES, TOKEN_STATUS, Token, User, token_state, when
from relaygate.services.migration.source import Source
from relaygate.services.migration.survey import channel_summary, stale_abilities, take_survey, tasks_of
from relaygate.services.migration.units import Units

KNOWN_COLUMNS = {
    "tokens": {"id", "user_id", "key", "status", "name", "created_time", "accessed_time", "expired_time",
               "remain_quota", "unlimited_quota", "used_quota", "models", "subnet", "model_limits_enabled",
               "model_limits", "allow_ips", "group", "cross_group_retry", "deleted_at"},
    "users": {"id", "username", "password", "display_name", "role", "status", "email", "github_id", "wechat_id",
              "lark_id", "oidc_id", "discord_id", "telegram_id", "linux_do_id", "access_token", "quota",
              "used_quota", "request_count", "group", "aff_code", "inviter_id", "aff_count", "aff_quota",
              "aff_history", "deleted_at", "setting", "remark", "stripe_customer", "created_at", "last_login_at"},
}
OPTION_KEYS = ("QuotaPerUnit", "LogConsumeEnabled", "RetryTimes", "PreConsumedQuota", "SelfUseModeEnabled",
               "AutomaticDisableChannelEnabled", "AutomaticEnableChannelEnabled", "DisplayInCurrencyEnabled",
               "QuotaForNewUser", "general_setting.quota_display_type")
SIDE_TABLES = ("redemptions", "top_ups", "tasks", "midjourneys", "subscription_plans", "user_subscriptions",
               "two_fas", "passkey_credentials")


async def load_users(source: Source) -> dict[int, User]:
    users: dict[int, User] = {}
    async for chunk in source.chunks("users"):
        for row in chunk:
            user = User.from_row(row, source.kind)
            users[user.id] = user
    return users


def token_view(tok: Token, user: User | None, units: Units, now_s: int, source_name: str) -> dict[str, Any]:
    state = token_state(tok, user, now_s, source_name)
    group = tok.group or (user.group if user else "")
    return {
        "id": tok.id, "key": mask_key(tok.key), "name": tok.name, "owner": user.username if user else None,
        "group": group, "status_column": TOKEN_STATUS.get(tok.status, str(tok.status)), "state": state.state,
        "reason": state.reason, "quota": "unlimited" if tok.unlimited else format_amount(
            units.nanos(tok.remain_quota), units.currency), "remain_quota": None if tok.unlimited else tok.remain_quota,
        "expires": "never" if tok.expired_time == -1 else when(tok.expired_time),
        "models": tok.models, "networks": tok.networks.allowed, "ignored_networks": tok.networks.ignored,
        "last_used": when(tok.accessed_time) if tok.accessed_time > 0 else None,
    }


async def inspect_source(source: Source, units: Units, *, days: int = 30, limit: int = 200,
                         progress: Progress = NULL, now_s: int | None = None) -> dict[str, Any]:
    """Everything the issue asks to see before a migration; ``limit`` caps each listing, counts are complete."""
    started = time.monotonic()
    now_s = now_s or int(time.time())
    survey = await take_survey(source)
    units = Units(survey.ratios.quota_per_unit, units.usd_rate, units.currency)  # the source's QuotaPerUnit
    cur = units.currency
    inv: dict[str, Any] = {
        "source": {"kind": source.kind, "name": source.name, "evidence": source.evidence, "backend": source.backend,
                   "dsn": mask_dsn(source.dsn), "logs_dsn": mask_dsn(source.logs_dsn) if source.logs_dsn else None,
                   "read_at": when(now_s), "notes": source.notes + survey.problems,
                   "unknown_columns": {t: source.unknown_columns(t, cols) for t, cols in KNOWN_COLUMNS.items()
                                       if source.unknown_columns(t, cols)}},
        "options": {k: survey.options[k] for k in OPTION_KEYS if k in survey.options},
        "units": {"quota_per_unit": show_ratio(survey.ratios.quota_per_unit), "currency": cur,
                  "usd_rate": show_ratio(units.usd_rate)},
    }
    by_type: dict[int, Counter[str]] = {}
    for ch in survey.channels:
        by_type.setdefault(ch.type, Counter())[{1: "enabled", 2: "disabled", 3: "auto_disabled"}.get(
            ch.status, "unknown")] += 1
    inv["channels"] = {
        "by_type": [{"type": t, "type_name": type_info(source.kind, t).name,
                     "relaygate": "openai-compatible" if type_info(source.kind, t).protocol == OPENAI
                     else f"needs the '{type_info(source.kind, t).protocol}' adapter",
                     "count": sum(c.values()), **dict(c)} for t, c in sorted(by_type.items())],
        "items": [channel_summary(ch, source.kind) for ch in survey.channels],
    }
    inv["models"] = [{"name": name, "tasks": tasks_of(name, type_info(source.kind, routes[0].channel.type).tasks),
                      "channels": [r.channel.id for r in routes],
                      "upstream": {str(r.channel.id): r.upstream for r in routes if r.upstream != name},
                      "enabled_channels": sum(1 for r in routes if r.enabled)}
                     for name, routes in sorted(survey.routes.items())]
    inv["ratios"] = {"model_ratios": len(survey.ratios.model), "typed_keys": survey.ratios.typed_keys(),
                     "model_prices": {k: show_ratio(v) for k, v in sorted(survey.ratios.price.items())},
                     "completion_ratios": len(survey.ratios.completion)}
    progress.start("users", await source.count("users"))
    users = await load_users(source)
    progress.advance(len(users))
    progress.finish()
    deleted_in: Counter[str] = Counter(u.group for u in users.values() if u.deleted)
    inv["groups"] = [{"name": g.name, "ratio": g.ratio or "1 (not in GroupRatio)", "users": g.users,
                      "deleted_users": deleted_in.get(g.name, 0), "channels": g.channels}
                     for g in sorted(survey.groups.values(), key=lambda g: g.name)]
    known = {g["name"] for g in inv["groups"]}
    inv["groups"] += [{"name": name, "ratio": "1 (not in GroupRatio)", "users": 0, "deleted_users": n,
                       "channels": []} for name, n in sorted(deleted_in.items()) if name not in known]
    inv["users"] = _users_section(users, units, limit)
    stale = await stale_abilities(source, survey.channels)
    inv["abilities"] = {"rows": await source.count("abilities"), "stale": len(stale),
                        "stale_items": stale[:limit] if limit else stale,
                        "note": "relaygate routes from the channels; stale rows are dropped"}
    progress.start("tokens", await source.count("tokens"))
    states: Counter[str] = Counter()
    lying = 0
    listed: list[dict[str, Any]] = []
    async for chunk in source.chunks("tokens"):
        for row in chunk:
            tok = Token.from_row(row, source.kind)
            view = token_view(tok, users.get(tok.user_id), units, now_s, source.name)
            states[view["state"]] += 1
            if tok.status == 1 and view["state"] in ("expired", "exhausted"):
                lying += 1
            if not limit or len(listed) < limit:
                listed.append(view)
        progress.advance(len(chunk))
    progress.finish()
    inv["tokens"] = {"total": sum(states.values()), "by_state": dict(sorted(states.items())),
                     "status_says_enabled_but_not": lying, "listed": len(listed), "items": listed}
    facts = await read_logs(source, now_s - days * 86400, limit, progress, until=now_s)
    inv["logs"] = {"available": facts.available, "rows": facts.rows, "rows_total": facts.rows_total, "days": days,
                   "window": {"from": when(now_s - days * 86400), "to": when(now_s)},
                   "unclassified": facts.unclassified, "unclassified_samples": facts.unclassified_samples,
                   "consume_rows": facts.consume_rows, "error_source": facts.error_source,
                   "callers": [{**c, "last_used": when(c["last_used"]) if c["last_used"] else None,
                                "spent": format_amount(units.nanos(c["quota"]), cur)} for c in facts.callers],
                   "errors_by_day": facts.errors_by_day, "error_totals": facts.error_totals,
                   "samples": facts.samples}
    inv["side_tables"] = {name: await source.count(name) for name in SIDE_TABLES if source.table(name) is not None}
    inv["took_seconds"] = round(time.monotonic() - started, 3)
    return inv


def _users_section(users: dict[int, User], units: Units, limit: int) -> dict[str, Any]:
    cur = units.currency
    # every breakdown counts every user once, deleted ones (One API status 3, New API soft delete) as "deleted"
    states = Counter(u.state for u in users.values())
    roles = Counter("deleted" if u.deleted else ROLE_NAMES.get(u.role, str(u.role)) for u in users.values())
    live = [u for u in users.values() if not u.deleted]
    total = sum(units.nanos(u.quota) for u in live)
    negative = [u for u in live if u.quota < 0]
    ordered = sorted(live, key=lambda u: (u.quota >= 0, u.id))  # negative balances first
    items = [{"id": u.id, "username": u.username, "role": ROLE_NAMES.get(u.role, str(u.role)), "state": u.state,
              "group": u.group, "quota": u.quota, "balance": format_amount(units.nanos(u.quota), cur),
              "access_token": bool(u.access_token)} for u in (ordered[:limit] if limit else ordered)]
    return {"total": len(users), "deleted": states.get("deleted", 0), "by_state": dict(sorted(states.items())),
            "by_role": dict(sorted(roles.items())),
            "balance_total": format_amount(total, cur), "negative": len(negative),
            "negative_total": format_amount(sum(units.nanos(u.quota) for u in negative), cur),
            "admins_with_access_token": sum(1 for u in live if u.is_admin and u.access_token),
            "items": items}
