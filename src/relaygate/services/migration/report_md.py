"""Markdown for people: the inventory, the import report and the verification summary (en / zh-CN)."""

from __future__ import annotations

from typing import Any

from relaygate.services.migration.logs import CLASS_TITLES, CLASSES

_L: dict[str, tuple[str, str]] = {
    "inv": ("Inventory of {name}", "{name} 盘点"), "source": ("Source", "源"), "channels": ("Channels", "渠道"),
    "by_type": ("By type", "按类型"), "models": ("Models served and mappings", "提供的模型与映射"),
    "groups": ("Groups and ratios", "分组与倍率"), "tokens": ("Tokens", "令牌"), "users": ("Users and balances",
                                                                                       "用户与余额"),
    "callers": ("Callers (last {days} days)", "调用方（最近 {days} 天）"),
    "errors": ("Errors per day (last {days} days)", "每日错误（最近 {days} 天）"),
    "notes": ("Notes", "注意事项"), "import": ("Import report", "导入报告"),
    "dry": ("Dry run: nothing was written. Run again with --apply to write.",
            "试运行：未写入任何数据。加 --apply 以实际写入。"),
    "applied": ("Applied.", "已写入。"), "steps": ("Steps and timing", "步骤与耗时"),
    "changes": ("Changes", "变更"),
    "media_prices": ("Media prices: per image, second, 1M characters or call", "媒体价格：按图片、秒、百万字符或次"),
    "prices": ("Prices: old and new cost of the same request",
                                            "价格：同一请求的旧成本与新成本"),
    "balances": ("Balances", "余额"), "warnings": ("Warnings", "警告"),
    "differences": ("What differs after the move", "迁移后有哪些不同"),
    "verify": ("Verification", "验证"), "other": ("Other tables", "其他表"),
}


def _t(key: str, lang: str, **kw: Any) -> str:
    en, zh = _L[key]
    return (zh if lang == "zh-CN" else en).format(**kw)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) if value else "-"
    if isinstance(value, dict):
        return ", ".join(f"{k}→{v}" for k, v in value.items()) if value else "-"
    return str(value).replace("|", "\\|").replace("\n", " ")


def table(rows: list[dict[str, Any]], columns: list[str]) -> list[str]:
    if not rows:
        return ["(none)", ""]
    out = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    out += ["| " + " | ".join(_cell(r.get(c)) for c in columns) + " |" for r in rows]
    return [*out, ""]


def inventory_markdown(inv: dict[str, Any], lang: str = "en") -> str:
    src = inv["source"]
    out = [f"# {_t('inv', lang, name=src['name'])}", "",
           f"- source: `{src['dsn']}` ({src['backend']}); logs: `{src['logs_dsn'] or 'same database'}`",
           f"- detected: {src['kind']} ({'; '.join(src['evidence'])})", f"- read at: {src['read_at']} (read-only)",
           f"- units: {inv['units']['quota_per_unit']} quota per USD; amounts in {inv['units']['currency']}",
           f"- took {inv['took_seconds']} s", ""]
    if src["unknown_columns"]:
        out += ["- columns this importer does not use: " + "; ".join(
            f"{t}: {', '.join(c)}" for t, c in src["unknown_columns"].items()), ""]
    out += [f"## {_t('channels', lang)}", "", f"### {_t('by_type', lang)}", ""]
    out += table(inv["channels"]["by_type"], ["type", "type_name", "relaygate", "count", "enabled", "disabled",
                                              "auto_disabled"])
    out += table(inv["channels"]["items"], ["id", "name", "type_name", "status", "base_url", "secrets", "models",
                                            "groups", "model_mapping", "priority", "weight"])
    out += [f"## {_t('models', lang)}", ""]
    out += table(inv["models"], ["name", "tasks", "channels", "upstream", "enabled_channels"])
    ratios = inv["ratios"]
    out += [f"- {ratios['model_ratios']} model ratios, {ratios['completion_ratios']} completion ratios"
            + (f"; per-call prices: {_cell(ratios['model_prices'])}" if ratios["model_prices"] else "")
            + (f"; keys of the model(type) form: {', '.join(ratios['typed_keys'])}" if ratios["typed_keys"] else ""),
            "", f"## {_t('groups', lang)}", ""]
    out += table(inv["groups"], ["name", "ratio", "users", "deleted_users", "channels"])
    ab = inv.get("abilities") or {}
    if ab.get("stale"):
        out += [f"{ab['stale']} of {ab['rows']} abilities rows are stale (the channels do not derive them); relaygate "
                "routes from the channels, so they are dropped:", ""]
        out += table(ab["stale_items"], ["group", "model", "channel_id", "why"])
    tok = inv["tokens"]
    out += [f"## {_t('tokens', lang)}", "",
            f"{tok['total']} tokens: " + ", ".join(f"{k} {v}" for k, v in tok["by_state"].items())
            + f". {tok['status_says_enabled_but_not']} say 'enabled' in the status column but are expired or "
              "exhausted (the source ran with Redis, which never writes those states back).", ""]
    out += table(tok["items"], ["key", "name", "owner", "group", "quota", "expires", "state", "reason", "models",
                                "networks", "last_used"])
    if tok["listed"] < tok["total"]:
        out += [f"(first {tok['listed']} of {tok['total']}; --limit 0 lists all, --format json for tools)", ""]
    users = inv["users"]
    out += [f"## {_t('users', lang)}", "",
            f"{users['total']} users ({_cell(users['by_state'])}; roles {_cell(users['by_role'])}); balances total "
            f"{users['balance_total']}; {users['negative']} negative ({users['negative_total']}); "
            f"{users['admins_with_access_token']} admins with an access token.", ""]
    out += table(users["items"], ["id", "username", "role", "state", "group", "quota", "balance", "access_token"])
    logs = inv["logs"]
    if not logs["available"]:
        out += ["## Logs", "", "No logs table (give --logs-source when LOG_SQL_DSN pointed elsewhere).", ""]
    else:
        out += [f"## {_t('callers', lang, days=logs['days'])}", "",
                f"{logs['rows']} log rows in the window ({logs['window']['from']} – {logs['window']['to']}; "
                f"{logs['rows_total']} in the table); {logs['consume_rows']} consumption rows in the window.", ""]
        out += table(logs["callers"], ["token_name", "username", "requests", "last_used", "spent"])
        out += [f"## {_t('errors', lang, days=logs['days'])}", "", f"Source: {logs['error_source']}.", ""]
        rows = [{"day": day, **{CLASS_TITLES[c]: counts.get(c, 0) for c in CLASSES}}
                for day, counts in logs["errors_by_day"].items()]
        out += table(rows, ["day", *[CLASS_TITLES[c] for c in CLASSES]])
        out += [f"{logs['unclassified']} error row(s) fell into no class."
                + (" Their messages (most frequent first):" if logs["unclassified_samples"] else ""), ""]
        if logs["unclassified_samples"]:
            out += table(logs["unclassified_samples"], ["rows", "message"])
    if inv.get("side_tables"):
        out += [f"## {_t('other', lang)}", "", _cell(inv["side_tables"]) + " (not imported)", ""]
    if src["notes"]:
        out += [f"## {_t('notes', lang)}", "", *[f"- {n}" for n in src["notes"]], ""]
    return "\n".join(out)


def import_markdown(rep: dict[str, Any], lang: str = "en") -> str:
    out = [f"# {_t('import', lang)}: {rep['source']['name']} → relaygate", "",
           _t("dry" if rep["dry_run"] else "applied", lang), "",
           f"- source: `{rep['source']['dsn']}` (tag `{rep['source']['tag']}`); {rep['units']['quota_per_unit']} quota "
           f"per USD, {rep['units']['currency']} at {rep['units']['usd_rate']} per USD; took {rep['seconds']} s", "",
           f"## {_t('steps', lang)}", ""]
    out += table([{"step": s["step"], "seconds": s["seconds"],
                   "counts": ", ".join(f"{k} {v}" for k, v in s.items() if k not in ("step", "seconds"))}
                  for s in rep["steps"]], ["step", "seconds", "counts"])
    out += [f"## {_t('changes', lang)}", ""]
    out += table([{"kind": k, **{f: v[f] for f in ("create", "update", "unchanged", "skip")}}
                  for k, v in rep["changes"].items()], ["kind", "create", "update", "unchanged", "skip"])
    for kind, change in rep["changes"].items():
        if change["lines"]:
            out += [f"### {kind}", "", "```", *change["lines"], "```", ""]
    out += [f"## {_t('prices', lang)}", ""]
    out += table(rep["prices"], ["model", "class", "basis", "old_cost", "new_cost", "difference", "new_price"])
    if rep["prices"]:
        out += [f"Request priced: {rep['prices'][0]['request']}. The old cost follows the source's own formula "
                "(One API rounds each request up to a whole quota unit, $0.000002); the new one is exact to the nano.",
                ""]
    if rep.get("media_prices"):
        out += [f"## {_t('media_prices', lang)}", ""]
        out += table(rep["media_prices"], ["model", "unit", "variant", "old_cost", "new_price"])
        out += ["The old cost is what the source charged for one unit (before the group ratio, which relaygate "
                "applies as the group multiplier); `relaygate media prices list` shows them.", ""]
    bal = rep.get("balances") or {}
    if bal:
        out += [f"## {_t('balances', lang)}", "",
                f"{bal['owners']} owners, total {bal['total']}, {bal['negative_owners']} negative; "
                f"{bal['entries_written']} import ledger entries written.", ""]
    if rep["warnings"]:
        out += [f"## {_t('warnings', lang)}", "", *[f"- {w}" for w in rep["warnings"]], ""]
    out += [f"## {_t('differences', lang)}", "", *[f"- {d}" for d in rep["differences"]], ""]
    return "\n".join(out)


def verify_markdown(result: dict[str, Any], lang: str = "en") -> str:
    out = [f"# {_t('verify', lang)}: {result['gateway']}", "", result["summary_text"], ""]
    rows = [{"model": r["model"], "result": r["result"],
             **{p: r["probes"].get(p, {}).get("outcome", "-") for p in ("normal", "stream", "insufficient_balance",
                                                                        "rate_limit", "unavailable")},
             "why": r.get("why", "")} for r in result["models"]]
    out += table(rows, ["model", "result", "normal", "stream", "insufficient_balance", "rate_limit", "unavailable",
                        "why"])
    return "\n".join(out)
